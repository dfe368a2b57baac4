from django.dispatch import Signal

# Sent after a pasted answer for a manual-provider call is accepted and committed.
# Receivers get ``query`` (the LLMQuery, now status ok). Domain apps connect here to resume
# the pipeline step that was waiting; calling ``llm.complete`` again with the same request
# then returns the pasted answer.
manual_answer_accepted = Signal()
