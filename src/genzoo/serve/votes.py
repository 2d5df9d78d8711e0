"""Arena battles and votes in SQLite (``RUNS_DIR/votes.sqlite``).

- WAL journal, ``synchronous=FULL``: a vote acknowledged to the browser has been fsynced, so it
  survives the server being killed (SIGKILL) right after;
- one transaction per vote; ``votes.battle_id`` is UNIQUE, so a retried vote is answered with the
  vote already stored instead of a second row (no duplicates);
- ``schema_version`` records the layout; ``meta`` keeps the server secret (CSRF tokens stay valid
  across restarts);
- the view ``judgements(a, b, winner)`` is what ``genzoo.metrics.pairwise.read_judgements`` reads
  (``genzoo eval --metrics pairwise --votes FILE``); "both bad" counts as a tie, as Chatbot Arena does.
"""
from __future__ import annotations

import itertools
import random
import secrets
import sqlite3
import threading
import time
from pathlib import Path

from ..errors import DataError

SCHEMA_VERSION = 1
OUTCOMES = {"a": "a", "b": "b", "tie": "tie", "both_bad": "tie"}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS battles (
  id TEXT PRIMARY KEY, model_a TEXT NOT NULL, model_b TEXT NOT NULL, kind TEXT NOT NULL,
  prompt TEXT NOT NULL, seed INTEGER NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS votes (
  id INTEGER PRIMARY KEY AUTOINCREMENT, battle_id TEXT NOT NULL UNIQUE REFERENCES battles(id),
  model_a TEXT NOT NULL, model_b TEXT NOT NULL, outcome TEXT NOT NULL, voter TEXT NOT NULL, created REAL NOT NULL);
CREATE VIEW IF NOT EXISTS judgements AS
  SELECT model_a AS a, model_b AS b, CASE outcome WHEN 'both_bad' THEN 'tie' ELSE outcome END AS winner
  FROM votes ORDER BY id;
"""


class VoteStore:
    """Battles and votes; every method opens its own short transaction (thread-safe)."""

    def __init__(self, path):
        self.path = Path(path)
        self._local = threading.local()
        self._db().db.executescript(_SCHEMA)
        with self._db() as db:
            row = db.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
            elif row[0] != SCHEMA_VERSION:
                raise DataError(f"{self.path}: votes schema version {row[0]}, this genzoo reads {SCHEMA_VERSION}")
            db.execute("INSERT OR IGNORE INTO meta VALUES ('secret', ?)", (secrets.token_hex(32),))
        self.secret = self._one("SELECT value FROM meta WHERE key = 'secret'")[0]

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            self._local.db = db
        return _Tx(db)

    def _one(self, sql: str, args=()):
        with self._db() as db:
            return db.execute(sql, args).fetchone()

    def pair_counts(self, names: list[str]) -> dict[tuple[str, str], int]:
        """Battles so far of every unordered pair of ``names``."""
        counts = {tuple(sorted(p)): 0 for p in itertools.combinations(names, 2)}
        with self._db() as db:
            for a, b, n in db.execute("SELECT model_a, model_b, COUNT(*) FROM battles GROUP BY model_a, model_b"):
                key = tuple(sorted((a, b)))
                if key in counts:
                    counts[key] += n
        return counts

    def draw_pair(self, names: list[str], rng: random.Random) -> tuple[str, str]:
        """A pair with the fewest battles so far (ties broken at random), in random order."""
        counts = self.pair_counts(names)
        if not counts:
            raise DataError("the arena needs at least two models of the same kind")
        low = min(counts.values())
        pair = list(rng.choice([p for p, c in counts.items() if c == low]))
        rng.shuffle(pair)
        return pair[0], pair[1]

    def new_battle(self, model_a: str, model_b: str, kind: str, prompt: str, seed: int) -> str:
        battle = secrets.token_urlsafe(12)
        with self._db() as db:
            db.execute("INSERT INTO battles VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (battle, model_a, model_b, kind, prompt, seed, time.time()))
        return battle

    def vote(self, battle: str, outcome: str, voter: str) -> dict:
        """Record one vote (one transaction); a battle already voted on returns its stored vote."""
        if outcome not in OUTCOMES:
            raise DataError(f"vote must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
        with self._db() as db:
            row = db.execute("SELECT model_a, model_b FROM battles WHERE id = ?", (battle,)).fetchone()
            if row is None:
                raise LookupError(f"no battle {battle!r}")
            new = db.execute("INSERT OR IGNORE INTO votes (battle_id, model_a, model_b, outcome, voter, created) "
                             "VALUES (?, ?, ?, ?, ?, ?)", (battle, row[0], row[1], outcome, voter, time.time())).rowcount
            vid, stored = db.execute("SELECT id, outcome FROM votes WHERE battle_id = ?", (battle,)).fetchone()
        return {"vote_id": vid, "battle": battle, "outcome": stored, "model_a": row[0], "model_b": row[1],
                "already_recorded": new == 0}

    def counts(self) -> dict:
        """Votes per model and in all."""
        per: dict[str, int] = {}
        with self._db() as db:
            for a, b in db.execute("SELECT model_a, model_b FROM votes"):
                per[a], per[b] = per.get(a, 0) + 1, per.get(b, 0) + 1
            total = db.execute("SELECT COUNT(*) FROM votes").fetchone()[0]
        return {"total": total, "per_model": per}

    def judgements(self) -> list[tuple[str, str, float]]:
        """(a, b, score of a) in vote order, as ``genzoo.metrics.pairwise`` takes them."""
        score = {"a": 1.0, "b": 0.0, "tie": 0.5}
        with self._db() as db:
            return [(a, b, score[w]) for a, b, w in db.execute("SELECT a, b, winner FROM judgements")]


class _Tx:
    """``with store._db() as db``: BEGIN IMMEDIATE ... COMMIT (or ROLLBACK on an error)."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, *_):
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")
        return False
