from notes.text import html_to_text


def test_it_drops_tags_and_keeps_paragraph_breaks():
    html = "<h2>Title</h2><p>First <b>bold</b> paragraph.</p><p>Second\n   paragraph.</p>"
    assert html_to_text(html) == "Title\n\nFirst bold paragraph.\n\nSecond paragraph."


def test_it_drops_script_and_style_content():
    html = "<p>Before</p><script>alert(1)</script><style>p{color:red}</style><p>After</p>"
    assert html_to_text(html) == "Before\n\nAfter"


def test_it_decodes_entities_into_plain_text():
    assert html_to_text("<p>&lt;script&gt; &amp; caf&eacute;</p>") == "<script> & café"


def test_it_keeps_preformatted_whitespace_and_lists():
    html = "<ul><li>one</li><li>two</li></ul><pre>def f():\n    return 1</pre>"
    assert html_to_text(html) == "- one\n- two\n\ndef f():\n    return 1"


def test_it_stops_at_the_limit_without_parsing_everything():
    html = "<p>" + "word " * 200_000 + "</p>"
    text = html_to_text(html, limit=1000)
    assert len(text) == 1000
    assert text.startswith("word word")


def test_it_survives_broken_markup():
    assert html_to_text("<p>unclosed <b>bold <i>and <div>text") == "unclosed bold and\n\ntext"
