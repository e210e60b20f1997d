"""Rules about schedules (registered into `llmdeploy.plan.rules.RULES` on import)."""

from __future__ import annotations
