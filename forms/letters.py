"""Web forms of the letters steps; builders register in forms.tasks.FORM_BUILDERS."""
