"""What every vendor builds on: facts -> drafts (:mod:`.drafts`), the shared helpers
(:mod:`.helpers`) and the endpoint kinds (:mod:`.endpoints`)."""
