from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Note


class NoteForm(forms.ModelForm):
    page_url = forms.URLField(
        label=_("Page URL"), max_length=2000, required=False, assume_scheme="https",
        help_text=_("The page the note is about (optional)."),
    )  # fmt: skip

    class Meta:
        model = Note
        fields = ["page_url", "page_title", "highlighted_text", "body"]
        labels = {"page_title": _("Page title"), "highlighted_text": _("Highlighted text"), "body": _("Note")}
        help_texts = {"highlighted_text": _("The passage of the page the note is about.")}
        widgets = {
            "highlighted_text": forms.Textarea(attrs={"rows": 4}),
            "body": forms.Textarea(attrs={"rows": 8}),
        }

    def clean(self):
        cleaned = super().clean()
        if not (cleaned.get("body") or "").strip() and not (cleaned.get("highlighted_text") or "").strip():
            self.add_error("body", _("Write a note or paste the highlighted text."))
        return cleaned


class NoteCreateForm(NoteForm):
    """A new note may carry the page section it was taken on.

    Editing leaves the captured section as it was: it can be megabytes, more than a form
    post may carry.
    """

    class Meta(NoteForm.Meta):
        fields = [*NoteForm.Meta.fields, "page_section_html"]
        labels = {**NoteForm.Meta.labels, "page_section_html": _("Page section HTML")}
        help_texts = {
            **NoteForm.Meta.help_texts,
            "page_section_html": _("Optional. Stored as given and only ever shown as plain text."),
        }
        widgets = {**NoteForm.Meta.widgets, "page_section_html": forms.Textarea(attrs={"rows": 6})}
