"""Web forms of the negotiation steps; builders register in forms.tasks.FORM_BUILDERS."""
