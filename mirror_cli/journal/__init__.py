"""The journal itself: reflections and how people reach them.

:mod:`.reflections` adds, edits, deletes, lists and shows; :mod:`.search` ranks full-text hits (FTS5 on a
plaintext journal, a decrypting scan on an encrypted one); :mod:`.timeparse` reads the dates people type;
:mod:`.editor` composes text in ``$VISUAL``/``$EDITOR``.
"""
