"""The journal itself: reflections, how people reach them, and the copies mirror made of it.

:mod:`.reflections` adds, edits, deletes, lists, shows and searches; :mod:`.query` reads a search query
(OR, NOT, phrases, prefixes, scripts without spaces); :mod:`.search` ranks full-text hits (FTS5 on a
plaintext journal, a decrypting scan on an encrypted one); :mod:`.snippets` cuts the text around a hit's
match; :mod:`.timeparse` reads the dates people type;
:mod:`.editor` composes text in ``$VISUAL``/``$EDITOR``; :mod:`.copies` names (and deletes) the backups and
``.before-*`` copies of a journal, for ``delete --all`` and ``key enable``.
"""
