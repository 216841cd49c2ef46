"""A local fake of the Notion API (version 2025-09-03) on 127.0.0.1, for the real notion_client.

Point `notion_client.Client(auth=fake.token, base_url=fake.base_url)` at it. It keeps pages,
databases (each with one data source), blocks and file uploads in memory and answers the
endpoints ITA uses, with Notion's shapes and error bodies (``{"object": "error", "status",
"code", "message"}``):

- ``GET users/me``: the integration's bot user (the token check);
- ``POST pages``, ``GET/PATCH pages/{id}``: pages under a page or a data source, properties
  checked against the data source's schema;
- ``GET/PATCH blocks/{id}/children``: list (paginated) and append (at most 100 per call);
- ``POST databases``, ``GET databases/{id}``: a database with its initial data source;
  retrieve lists its ``data_sources``;
- ``GET/PATCH data_sources/{id}``, ``POST data_sources/{id}/query``: schema, schema changes,
  query with an ``equals`` filter, paginated ``has_more``/``next_cursor``;
- ``POST file_uploads``, ``POST file_uploads/{id}/send``, ``GET file_uploads/{id}``:
  single-part uploads, then usable once in an image block.

Like Notion it refuses: a bad bearer token (401 ``unauthorized``), a page not shared with the
integration (404 ``object_not_found``; pages made with `add_root_page(shared=False)`), an
unknown property or a value of the wrong type (400 ``validation_error``), a text over 2,000
characters (400). Faults on demand: `fail_next("429" | "500" | "503", count, path=...)` (429
carries ``Retry-After: retry_after``), and `outage` (True: every request answers 503).
`requests` lists (method, path) of every request received, `created` counts created objects.
"""

from __future__ import annotations

import json
import threading
import uuid
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes._http import LocalServer, json_handler

TEXT_LIMIT = 2000
PROPERTY_TYPES = {"title", "rich_text", "number", "select", "date", "checkbox", "url"}
TEXT_BLOCKS = {"paragraph", "heading_1", "heading_2", "heading_3", "bulleted_list_item",
               "numbered_list_item", "quote", "callout", "code", "table_row"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _bad(message: str) -> ApiError:
    return ApiError(400, "validation_error", message)


def _check_text(items: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    out = []
    for item in items:
        content = item.get("text", {}).get("content", "")
        if len(content) > TEXT_LIMIT:
            raise _bad(f"body failed validation: {where}.text.content.length should be ≤ "
                       f"`{TEXT_LIMIT}`, instead was `{len(content)}`.")
        out.append({**item, "type": "text", "plain_text": content})
    if len(out) > 100:
        raise _bad(f"body failed validation: {where}.length should be ≤ `100`")
    return out


class FakeNotion(LocalServer):
    """The fake server; a context manager that starts and stops it."""

    def __init__(self, *, token: str = "secret_test_token", page_size_max: int = 100) -> None:
        self.token = token
        self.page_size_max = page_size_max
        self.outage = False
        self.requests: list[tuple[str, str]] = []
        self.created = {"page": 0, "database": 0, "block": 0, "file_upload": 0}
        self.pages: dict[str, dict[str, Any]] = {}
        self.databases: dict[str, dict[str, Any]] = {}
        self.data_sources: dict[str, dict[str, Any]] = {}
        self.children: dict[str, list[dict[str, Any]]] = {}
        self.uploads: dict[str, dict[str, Any]] = {}
        self._shared_roots: set[str] = set()
        self._faults: list[tuple[str, str | None, int]] = []
        self._lock = threading.RLock()
        super().__init__(json_handler(self._respond, methods=("GET", "POST", "PATCH", "DELETE")))

    @property
    def base_url(self) -> str:
        return self.origin

    # -- test controls ---------------------------------------------------------------------
    def add_root_page(self, title: str = "Trading", *, shared: bool = True) -> str:
        """A workspace page the trader made; `shared`: connected to the integration."""
        page_id = str(uuid.uuid4())
        with self._lock:
            self.pages[page_id] = {"object": "page", "id": page_id, "in_trash": False,
                                   "parent": {"type": "workspace", "workspace": True},
                                   "properties": {"title": _title_value(title)}}
            self.children[page_id] = []
            if shared:
                self._shared_roots.add(page_id)
        return page_id

    def fail_next(self, kind: str, count: int = 1, *, path: str | None = None,
                  retry_after: int = 1) -> None:
        if kind not in {"429", "500", "503"}:
            raise ValueError(f"unknown fault {kind!r}")
        with self._lock:
            self._faults.extend([(kind, path, retry_after)] * count)

    def rows(self, data_source_id: str) -> list[dict[str, Any]]:
        """The live pages of a data source, oldest first."""
        with self._lock:
            return [p for p in self.pages.values() if not p["in_trash"]
                    and p["parent"].get("data_source_id") == data_source_id]

    def block_children(self, block_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.children.get(block_id, []))

    # -- dispatch ----------------------------------------------------------------------------
    def _respond(self, method: str, path: str, headers: dict[str, str],
                 body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        content_type = headers.get("content-type", "")
        with self._lock:
            self.requests.append((method, path))
            fault = self._take_fault(path)
            if fault is not None:
                return fault
            if self.outage:
                return 503, _error(503, "service_unavailable", "Notion is unavailable"), {}
            if headers.get("authorization") != f"Bearer {self.token}":
                return 401, _error(401, "unauthorized", "API token is invalid."), {}
            if headers.get("notion-version") != "2025-09-03":
                return 400, _error(400, "missing_version", "Notion-Version is wrong"), {}
            try:
                return 200, self._route(method, path, body, content_type), {}
            except ApiError as error:
                return error.status, _error(error.status, error.code, error.message), {}

    def _take_fault(self, path: str) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        for index, (kind, where, retry_after) in enumerate(self._faults):
            if where is None or where in path:
                del self._faults[index]
                if kind == "429":
                    return (429, _error(429, "rate_limited", "Rate limited"),
                            {"Retry-After": str(retry_after)})
                code = "internal_server_error" if kind == "500" else "service_unavailable"
                return int(kind), _error(int(kind), code, "Try again"), {}
        return None

    def _route(self, method: str, path: str, raw: bytes, content_type: str) -> dict[str, Any]:
        url = urlsplit(path)
        parts = url.path.strip("/").split("/")[1:]  # drop "v1"
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        body = json.loads(raw or b"{}") if "json" in content_type else {}
        head, rest = parts[0], parts[1:]
        if head == "users" and rest == ["me"]:
            return {"object": "user", "id": "bot-1", "type": "bot", "name": "ITA", "bot": {}}
        if head == "file_uploads":
            return self._file_uploads(method, rest, raw, content_type)
        handler = getattr(self, f"_{head}", None)
        if handler is None:
            raise ApiError(400, "invalid_request_url", f"Invalid request URL {path}")
        return handler(method, rest, body, query)

    # -- pages -------------------------------------------------------------------------------
    def _pages(self, method: str, rest: list[str], body: dict, query: dict) -> dict[str, Any]:
        if method == "POST" and not rest:
            return self._create_page(body)
        page = self._visible_page(rest[0])
        if method == "PATCH":
            if page["in_trash"] and "properties" in body:
                raise _bad("Can't edit page that is archived. You must unarchive the page "
                           "before editing.")
            if "properties" in body:
                schema = self._schema_of(page)
                page["properties"].update(_checked_properties(body["properties"], schema))
            if "in_trash" in body or "archived" in body:
                page["in_trash"] = bool(body.get("in_trash", body.get("archived")))
        return page

    def _create_page(self, body: dict[str, Any]) -> dict[str, Any]:
        parent = body.get("parent") or {}
        if "data_source_id" in parent:
            source = self._visible_source(parent["data_source_id"])
            props = _checked_properties(body.get("properties", {}), source["properties"])
            parent = {"type": "data_source_id", "data_source_id": source["id"],
                      "database_id": source["parent"]["database_id"]}
        elif "page_id" in parent:
            self._visible_page(parent["page_id"])
            props = {"title": _title_value(_plain(body.get("properties", {}).get("title")))}
            parent = {"type": "page_id", "page_id": parent["page_id"]}
        else:
            raise _bad("body failed validation: body.parent should be defined")
        page_id = str(uuid.uuid4())
        page = {"object": "page", "id": page_id, "parent": parent, "in_trash": False,
                "properties": props, "url": f"https://www.notion.so/{page_id.replace('-', '')}"}
        self.pages[page_id] = page
        self.children[page_id] = []
        self.created["page"] += 1
        if body.get("children"):
            self._append(page_id, body["children"])
        if parent["type"] == "page_id":
            self.children[parent["page_id"]].append(
                {"object": "block", "id": page_id, "type": "child_page",
                 "child_page": {"title": _plain(props["title"]["title"])}})
        return page

    def _schema_of(self, page: dict[str, Any]) -> dict[str, Any]:
        source_id = page["parent"].get("data_source_id")
        if source_id is None:
            return {"title": {"type": "title"}}
        return self.data_sources[source_id]["properties"]

    # -- sharing -----------------------------------------------------------------------------
    def _root_of(self, object_id: str) -> str | None:
        seen = 0
        while seen < 100:
            seen += 1
            if object_id in self._shared_roots:
                return object_id
            if object_id in self.pages:
                parent = self.pages[object_id]["parent"]
                object_id = parent.get("page_id") or parent.get("database_id") or ""
            elif object_id in self.databases:
                object_id = self.databases[object_id]["parent"].get("page_id", "")
            elif object_id in self.data_sources:
                object_id = self.data_sources[object_id]["parent"]["database_id"]
            else:
                return None
        return None

    def _missing(self, object_id: str, what: str = "page") -> ApiError:
        return ApiError(404, "object_not_found",
                        f"Could not find {what} with ID: {object_id}. Make sure the relevant "
                        "pages and databases are shared with your integration.")

    def _visible_page(self, page_id: str) -> dict[str, Any]:
        if page_id not in self.pages or self._root_of(page_id) is None:
            raise self._missing(page_id)
        return self.pages[page_id]

    def _visible_source(self, source_id: str) -> dict[str, Any]:
        if source_id not in self.data_sources or self._root_of(source_id) is None:
            raise self._missing(source_id, "data_source")
        return self.data_sources[source_id]

    # -- blocks ------------------------------------------------------------------------------
    def _blocks(self, method: str, rest: list[str], body: dict, query: dict) -> dict[str, Any]:
        block_id = rest[0]
        if block_id not in self.children or self._root_of(block_id) is None:
            if not any(block_id == b["id"] for kids in self.children.values() for b in kids):
                raise self._missing(block_id, "block")
        if method == "PATCH":
            return _page_of(self._append(block_id, body.get("children", [])), None)
        items = self.children.get(block_id, [])
        return self._paginate(items, query.get("start_cursor"), query.get("page_size"))

    def _append(self, parent_id: str, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(blocks) > 100:
            raise _bad("body failed validation: body.children.length should be ≤ `100`, "
                       f"instead was `{len(blocks)}`.")
        made = [self._block(block, f"body.children[{i}]") for i, block in enumerate(blocks)]
        self.children.setdefault(parent_id, []).extend(made)
        return made

    def _block(self, block: dict[str, Any], where: str) -> dict[str, Any]:
        kind = block.get("type") or next(k for k in block if k != "object")
        content = dict(block.get(kind, {}))
        if kind in TEXT_BLOCKS and "rich_text" in content:
            content["rich_text"] = _check_text(content["rich_text"], f"{where}.{kind}.rich_text")
        if kind == "table_row":
            content["cells"] = [_check_text(c, f"{where}.cells") for c in content["cells"]]
        if kind == "image" and content.get("type") == "file_upload":
            upload = self.uploads.get(content["file_upload"]["id"])
            if upload is None or upload["status"] != "uploaded":
                raise _bad(f"{where}.image.file_upload: the file upload is not uploaded")
            upload["status"] = "attached"
            content = {"type": "file", "file": {"url": f"{self.base_url}/files/{upload['id']}"},
                       "caption": content.get("caption", [])}
        block_id = str(uuid.uuid4())
        made = {"object": "block", "id": block_id, "type": kind, kind: content,
                "has_children": bool(content.get("children"))}
        kids = content.pop("children", None)
        if kids and len(kids) > 100:
            raise _bad(f"body failed validation: {where}.{kind}.children.length should be ≤ "
                       f"`100`, instead was `{len(kids)}`.")
        self.created["block"] += 1
        if kids:
            self.children[block_id] = [self._block(k, f"{where}.children") for k in kids]
        return made

    # -- databases and data sources --------------------------------------------------------
    def _databases(self, method: str, rest: list[str], body: dict, query: dict) -> dict:
        if method == "POST" and not rest:
            parent = body.get("parent") or {}
            self._visible_page(parent.get("page_id", ""))
            initial = body.get("initial_data_source") or {}
            schema = _checked_schema(initial.get("properties", {}))
            database_id, source_id = str(uuid.uuid4()), str(uuid.uuid4())
            title = _check_text(body.get("title", []), "body.title")
            self.databases[database_id] = {
                "object": "database", "id": database_id, "title": title, "in_trash": False,
                "parent": {"type": "page_id", "page_id": parent["page_id"]},
                "data_sources": [{"id": source_id, "name": _plain(title)}]}
            self.data_sources[source_id] = {
                "object": "data_source", "id": source_id, "title": title,
                "parent": {"type": "database_id", "database_id": database_id},
                "properties": schema}
            self.children[parent["page_id"]].append(
                {"object": "block", "id": database_id, "type": "child_database",
                 "child_database": {"title": _plain(title)}})
            self.created["database"] += 1
            return self.databases[database_id]
        database_id = rest[0]
        if database_id not in self.databases or self._root_of(database_id) is None:
            raise self._missing(database_id, "database")
        return self.databases[database_id]

    def _data_sources(self, method: str, rest: list[str], body: dict, query: dict) -> dict:
        source = self._visible_source(rest[0])
        if rest[1:] == ["query"]:
            return self._query(source, body)
        if method == "PATCH" and "properties" in body:
            for name, spec in body["properties"].items():
                if spec is None:
                    source["properties"].pop(name, None)
                elif "name" in spec and name in source["properties"]:
                    source["properties"][spec["name"]] = source["properties"].pop(name)
                else:
                    source["properties"].update(_checked_schema({name: spec}))
        return source

    def _query(self, source: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        rows = [p for p in self.pages.values() if not p["in_trash"]
                and p["parent"].get("data_source_id") == source["id"]]
        condition = body.get("filter")
        if condition:
            name = condition.get("property")
            if name not in source["properties"]:
                raise _bad(f"Could not find property with name or id: {name}")
            kind = next(k for k in condition if k != "property")
            wanted = condition[kind].get("equals")
            rows = [p for p in rows if _value(p["properties"].get(name)) == wanted]
        return self._paginate(rows, body.get("start_cursor"), body.get("page_size"))

    def _paginate(self, items: list, cursor: str | None, size: Any) -> dict[str, Any]:
        start = int(cursor) if cursor else 0
        size = min(int(size or 100), self.page_size_max)
        chunk = items[start:start + size]
        more = start + size < len(items)
        return {"object": "list", "results": chunk, "has_more": more,
                "next_cursor": str(start + size) if more else None, "type": "page_or_data_source"}

    # -- file uploads ------------------------------------------------------------------------
    def _file_uploads(self, method: str, rest: list[str], raw: bytes, ctype: str) -> dict:
        if method == "POST" and not rest:
            body = json.loads(raw or b"{}")
            upload_id = str(uuid.uuid4())
            self.uploads[upload_id] = {"object": "file_upload", "id": upload_id,
                                       "status": "pending", "filename": body.get("filename"),
                                       "content_type": body.get("content_type"), "data": b""}
            self.created["file_upload"] += 1
            return _public(self.uploads[upload_id])
        upload = self.uploads.get(rest[0])
        if upload is None:
            raise self._missing(rest[0], "file_upload")
        if rest[1:] == ["send"]:
            if upload["status"] != "pending":
                raise _bad("file upload was already sent")
            upload["data"] = _multipart_file(ctype, raw)
            upload["status"] = "uploaded"
        return _public(upload)


def _public(upload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in upload.items() if k != "data"}


def _page_of(results: list, cursor: str | None) -> dict[str, Any]:
    return {"object": "list", "results": results, "has_more": False, "next_cursor": cursor}


def _error(status: int, code: str, message: str) -> dict[str, Any]:
    return {"object": "error", "status": status, "code": code, "message": message,
            "request_id": str(uuid.uuid4())}


def _title_value(text: str) -> dict[str, Any]:
    return {"id": "title", "type": "title",
            "title": [{"type": "text", "text": {"content": text}, "plain_text": text}]}


def _plain(items: Any) -> str:
    if isinstance(items, dict):
        items = items.get("title", [])
    return "".join(i.get("text", {}).get("content", "") for i in items or [])


def _value(prop: dict[str, Any] | None) -> Any:
    if prop is None:
        return None
    kind = prop["type"]
    if kind in {"title", "rich_text"}:
        return _plain(prop[kind])
    if kind == "select":
        return (prop[kind] or {}).get("name")
    return prop[kind]


def _checked_schema(properties: dict[str, Any]) -> dict[str, Any]:
    schema = {}
    for name, spec in properties.items():
        kinds = [k for k in spec if k in PROPERTY_TYPES]
        if len(kinds) != 1:
            raise _bad(f"body failed validation: property {name!r} needs one type")
        schema[name] = {"id": name, "name": name, "type": kinds[0], kinds[0]: spec[kinds[0]]}
    if sum(1 for s in schema.values() if s["type"] == "title") > 1:
        raise _bad("a data source has one title property")
    return schema


def _checked_properties(values: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in values.items():
        if name not in schema:
            raise _bad(f"{name} is not a property that exists.")
        kind = schema[name]["type"]
        if kind not in value:
            raise _bad(f"{name} is expected to be {kind}.")
        if kind in {"title", "rich_text"}:
            payload: Any = _check_text(value[kind], f"body.properties.{name}.{kind}")
        elif kind == "number" and value[kind] is not None and not isinstance(
                value[kind], int | float):
            raise _bad(f"{name} is expected to be number.")
        else:
            payload = value[kind]
        out[name] = {"id": schema[name]["id"], "type": kind, kind: payload}
    return out


def _multipart_file(content_type: str, body: bytes) -> bytes:
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            return part.get_payload(decode=True) or b""
    raise _bad("body failed validation: file is missing")
