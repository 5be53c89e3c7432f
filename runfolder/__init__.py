"""The run folder: the one contract between the side that writes a run (sim/) and the side
that reads it (readout/, grading/, dashboard/).

Tiny and dependency-light on purpose (no project imports, no simulator): both sides import
it, so a name changed here changes for everyone and nothing has to be kept in sync by hand.
`layout` names the folder's files and tables; `brief` reads `case.yaml` and defines the
comparison windows.
"""
