"""``genzoo serve``: a local web UI (playground, arena, leaderboard); see docs/serve.md.
FastAPI is imported by ``genzoo.serve.app`` only, so ``votes`` and ``tiny`` work without it."""
