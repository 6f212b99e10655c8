"""Dataset folders: the export loop (``exporter``), the folder's preparation and refusals
(``prepare``), one writer per format behind one protocol (``writers``), the folder's names, lock
and leftovers (``folder``), its manifest and record of files (``record``), their verification
(``verify``), and the streamed zip64 writer of the npz format (``zipstream``).
"""

from . import writers  # noqa: F401 - registers the built-in formats: every check of a folder knows their files
