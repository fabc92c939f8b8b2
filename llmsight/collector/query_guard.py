"""What the query endpoint lets through: one read-only statement over llmsight's own tables.

The engine's ``readonly=1`` stops writes, setting changes and most table functions, but not
everything an embedded engine can do: ``INTO OUTFILE`` writes files, the ``file()`` function
reads them, and any database or system table in the engine can be read. So every query is
first parsed *by the engine itself* (no second SQL grammar to disagree with it):
``formatQuerySingleLine`` takes the text as a bound parameter, which refuses multi-statements
and gives the canonical text, and ``EXPLAIN AST`` of that text gives the tree checked here.
The canonical text is what then runs, so what was checked is what executes.

Allowed: SELECT (with UNION, subqueries, CTEs, JOINs, FORMAT), SHOW TABLES/DATABASES,
DESCRIBE, EXISTS and SHOW CREATE TABLE, over tables of llmsight's database and the few system
tables a client asks for schema. Refused: INTO OUTFILE, SETTINGS clauses, table functions,
other databases and system tables, and functions that reach files, the server or dictionaries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# System tables that describe schema; what clickhouse-connect, the CLI and Grafana's plugin ask.
SYSTEM_TABLES = frozenset(
    {"one", "tables", "columns", "databases", "functions", "settings", "data_type_families", "time_zones", "formats"}
)
ROOTS = frozenset({"SelectWithUnionQuery", "ShowTables", "DescribeQuery", "ExistsTableQuery", "ShowCreateTableQuery"})
# Functions (lower case) that read files, the server's configuration, or tables by name.
DENIED_FUNCTIONS = frozenset(
    {
        "file",
        "getclienthttpheader",
        "currentrequesturl",
        "getmacro",
        "globalvariable",
        "serveruuid",
        "hascolumnintable",
        "modelevaluate",
        "naivebayesclassifier",
        "demangle",
    }
)
DENIED_PREFIXES = ("dict", "filesystem", "getserver", "getmergetree", "joinget", "catboost", "address", "trace")
IN_FUNCTIONS = frozenset(
    {"in", "notin", "globalin", "globalnotin", "nullin", "notnullin", "globalnullin", "globalnotnullin"}
)
LINE = re.compile(r"^( *)([A-Za-z_]+)(?: (.*?))?(?: \(children \d+\))?$")


class QueryRefused(Exception):
    """The query is not one this endpoint runs (answered 403, with this message)."""


@dataclass
class Node:
    kind: str
    text: str  # what follows the kind on its line: a name, a literal, an alias
    children: list[Node] = field(default_factory=list)

    def walk(self) -> Any:
        yield self
        for child in self.children:
            yield from child.walk()


def canonical(client: Any, sql: str) -> str:
    """The engine's single-line form of ``sql``; raises the engine's syntax error for two statements."""
    return str(client.query("SELECT formatQuerySingleLine({q:String})", parameters={"q": sql}).result_rows[0][0])


def parse_ast(text: str) -> Node:
    """Rebuild the tree from ``EXPLAIN AST`` output (one node a line, one space of indent per level).

    The output is read as TabSeparated, which escapes newlines, so a name cannot forge a line."""
    root: Node | None = None
    stack: list[tuple[int, Node]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        match = LINE.match(line)
        depth = len(line) - len(line.lstrip(" "))
        if match is None or (stack and depth > stack[-1][0] + 1) or (root is not None and depth == 0):
            raise QueryRefused("the query could not be checked (unexpected parse tree)")
        node = Node(match.group(2), match.group(3) or "")
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            stack[-1][1].children.append(node)
        else:
            root = node
        stack.append((depth, node))
    if root is None:
        raise QueryRefused("empty query")
    return root


@dataclass(frozen=True)
class Policy:
    database: str
    system_tables: frozenset[str] = SYSTEM_TABLES

    def check(self, root: Node) -> None:
        if root.kind not in ROOTS:
            raise QueryRefused(f"only SELECT, SHOW, DESCRIBE and EXISTS run here, not {root.kind}")
        if root.kind == "SelectWithUnionQuery":
            for extra in root.children[1:]:
                if extra.kind == "Literal":
                    raise QueryRefused("INTO OUTFILE is not allowed")
                if extra.kind != "Identifier":  # FORMAT name
                    raise QueryRefused("SETTINGS cannot be changed on this endpoint (its limits are fixed)")
        if root.kind in ("ExistsTableQuery", "ShowCreateTableQuery"):
            names = [c.text for c in root.children if c.kind == "Identifier"]
            self.table(".".join(names))
        if root.kind == "ShowTables" and root.children:
            self.database_name(root.children[0].text)
        for node in root.walk():
            self.node(node)

    def node(self, node: Node) -> None:
        if node.kind == "Set":
            raise QueryRefused("SETTINGS cannot be changed on this endpoint (its limits are fixed)")
        if node.kind in ("Explain", "InsertQuery"):
            raise QueryRefused(f"{node.kind} is not allowed")
        if node.kind == "TableExpression":
            for child in node.children:
                if child.kind == "Function":
                    raise QueryRefused(f"table function {_name(child.text)}() is not allowed: read llmsight's tables")
        if node.kind == "TableIdentifier":
            self.table(_name(node.text))
        if node.kind == "Function":
            name = _name(node.text).lower()
            if name in DENIED_FUNCTIONS or name.startswith(DENIED_PREFIXES):
                raise QueryRefused(f"function {_name(node.text)}() is not allowed on this endpoint")
            if name in IN_FUNCTIONS and node.children and len(node.children[0].children) == 2:
                right = node.children[0].children[1]
                if right.kind == "Identifier":  # `x IN table` reads that table
                    self.table(_name(right.text))

    def table(self, name: str) -> None:
        """Unqualified names are llmsight's database (the session's) or a CTE; others must be allowed."""
        if "." not in name or name.startswith(self.database + "."):
            return
        database, _, table = name.partition(".")
        if database == "system" and table in self.system_tables:
            return
        raise QueryRefused(
            f"table {name} is not readable here: only llmsight's tables (database {self.database}) "
            f"and system.{{{','.join(sorted(self.system_tables))}}}"
        )

    def database_name(self, name: str) -> None:
        if name not in (self.database, "system"):
            raise QueryRefused(f"database {name} is not readable here: only {self.database}")


def _name(text: str) -> str:
    """``otel.t (alias a)`` -> ``otel.t``."""
    return text.split(" (alias ", 1)[0].strip()


def checked_query(client: Any, sql: str, policy: Policy, parameters: dict[str, Any] | None = None) -> str:
    """The canonical text of ``sql`` once the policy allows it; raises QueryRefused otherwise.

    ``parameters`` fill ``{name:Type}`` placeholders; the engine binds them as values, so they
    cannot change the tree that is checked."""
    text = canonical(client, sql)
    if parameters:
        # clickhouse-connect binds values in the engine only when the text has {name:Type} placeholders (its own
        # pattern, checked here on the canonical text, which keeps no comment); without one it would paste them
        # into the text with %-formatting, after this check. So every parameter must have its placeholder.
        from clickhouse_connect.driver.binding import external_bind_re

        placed = {name for name, _ in external_bind_re.findall(text)}
        unplaced = sorted(set(parameters) - placed)
        if unplaced:
            raise QueryRefused(f"parameter(s) {', '.join(unplaced)} have no {{name:Type}} placeholder in the query")
    # No output format is named: a FORMAT clause in ``text`` belongs to the explained query.
    ast = client.raw_query(f"EXPLAIN AST {text}", parameters=parameters or None).decode("utf-8")
    policy.check(parse_ast(ast))
    return text
