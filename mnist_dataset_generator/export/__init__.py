"""Dataset folders: the export loop (``exporter``), one writer per format behind one protocol
(``writers``), the folder's lock, manifest, record and verification (``folder``), and the
streamed zip64 writer of the npz format (``zipstream``).
"""
