"""The knowledge base: the trader's theory (books, course notes, screenshots; mostly Russian
with English terms) as searchable passages, shared between analysts through a synced folder.

| module       | role                                                                        |
| ------------ | --------------------------------------------------------------------------- |
| `extract`    | a file -> `Document` of `Section`s (text per PDF page or heading block; OCR  |
|              | for scans and screenshots); bad input is a one-line `KnowledgeError`         |
| `_formats`   | the Markdown, TXT (UTF-8 / UTF-16 / Windows-1251) and DOCX readers           |
| `chunk`      | `Document` -> `Chunk`s of at most 1,200 characters with ~150 of overlap,     |
|              | never across a page or heading, with stable ids ``<source>#00000``          |
| `shared`     | the ``shared_kb/`` layout: theory files with manifests (append-only, one     |
|              | name per content, removed only by the adder), per-analyst folders, listing  |

A chunk's metadata (the contract the index, search and answers rely on): `id`, `text`,
`source` (the POSIX path relative to ``shared_kb/``), `page` (1-based, PDF only), `heading`
(``"Глава 2 > FVG"``), `language` ("ru" | "en" | "mixed"), `analyst`, `file_sha256`, `ocr`,
`tags`. The same file always gives the same chunks with the same ids, so re-indexing an
unchanged file changes nothing.
"""
