"""What ``nssr eval`` measures and how it sums it up: one :class:`Score` per (protocol, scale,
method, image), and the :class:`Report` of them — means, gains over bicubic, the worst image and
the two oracles (:mod:`nssr_cli.quality.evaluation`), as plain data for ``--json``."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

ORACLES = ("oracle", "reach")  # the methods that see the HR (quality.evaluation)


@dataclass(frozen=True)
class Score:
    """One (protocol, scale, method, image) measurement."""

    protocol: str
    scale: int
    method: str
    image: str  # the file's stem, made unique among the inputs (``a``, ``a-2``)
    psnr: float  # dB; ``inf`` where the output equals the reference exactly
    ssim: float
    kernel: str  # the kernel actually used (the bank entry for blur levels)


@dataclass
class Report:
    scores: list[Score] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # one message per image left out

    def means(self) -> list[dict[str, Any]]:
        """Mean PSNR/SSIM per (protocol, scale, method), in first-seen order."""
        groups: dict[tuple[str, int, str], list[Score]] = {}
        for s in self.scores:
            groups.setdefault((s.protocol, s.scale, s.method), []).append(s)
        return [
            {
                "protocol": p,
                "scale": sc,
                "method": m,
                "images": len(v),
                "psnr": float(np.mean([s.psnr for s in v])),
                "ssim": float(np.mean([s.ssim for s in v])),
            }
            for (p, sc, m), v in groups.items()
        ]

    def summary(self) -> list[dict[str, Any]]:
        """Per (protocol, scale, method other than bicubic): mean PSNR and SSIM gain over
        bicubic, the worst single image's PSNR gain (and which image), and the two oracles' mean
        PSNR gains (``oracle``, ``reach``; when they were measured), in first-seen order."""
        base = {(s.protocol, s.scale, s.image): s for s in self.scores if s.method == "bicubic"}
        groups: dict[tuple[str, int, str], list[Score]] = {}
        for s in self.scores:
            if s.method != "bicubic" and (s.protocol, s.scale, s.image) in base:
                groups.setdefault((s.protocol, s.scale, s.method), []).append(s)
        rows = []
        for (p, sc, m), v in groups.items():
            # both exact (a flat image): no gain, where inf − inf would make every mean NaN
            gain = [_gain(s.psnr, base[p, sc, s.image].psnr) for s in v]
            worst = int(np.argmin(gain))
            ssim = [s.ssim - base[p, sc, s.image].ssim for s in v]
            rows.append(
                {
                    "protocol": p,
                    "scale": sc,
                    "method": m,
                    "images": len(v),
                    "gain": float(np.mean(gain)),
                    "ssim_gain": float(np.mean(ssim)),
                    "worst": float(gain[worst]),
                    "worst_image": v[worst].image,
                }
            )
        for name in ORACLES:
            best = {(r["protocol"], r["scale"]): r["gain"] for r in rows if r["method"] == name}
            for r in rows:
                r[name] = best.get((r["protocol"], r["scale"]))
        return rows

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: an infinite (or NaN) score becomes ``None``."""
        doc = {
            "means": self.means(),
            "summary": self.summary(),
            "scores": [asdict(s) for s in self.scores],
        }
        for row in (*doc["means"], *doc["scores"], *doc["summary"]):
            for key in ("psnr", "ssim", "gain", "ssim_gain", "worst", *ORACLES):
                value = row.get(key)
                if isinstance(value, float) and not math.isfinite(value):
                    row[key] = None
        return {**doc, "failed": list(self.failed)}


def _gain(psnr: float, base: float) -> float:
    """``psnr − base``, and 0 where the two are equal (two exact outputs: both infinite)."""
    return 0.0 if psnr == base else psnr - base
