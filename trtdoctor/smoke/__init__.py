"""`trtdoctor smoke`: build an engine from a reference model, validate it, benchmark it."""
