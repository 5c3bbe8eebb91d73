"""Training: reproducible, and it actually learns to invert blur."""

from __future__ import annotations

import pytest
import torch

from nssr_cli.dil.collapse import collapse
from nssr_cli.dil.model import LCNNConfig
from nssr_cli.dil.training import TrainConfig, checkpoint_payload, train
from nssr_cli.errors import UsageError

TINY = TrainConfig(kernels=64, epochs=3, batch_size=16, model=LCNNConfig(depth=3, width=8))


def test_same_seed_same_weights_other_seed_other_weights() -> None:
    a, b, c = train(TINY, seed=1), train(TINY, seed=1), train(TINY, seed=2)
    for (name, pa), pb in zip(
        a.model.state_dict().items(), b.model.state_dict().values(), strict=True
    ):
        assert torch.equal(pa, pb), name
    assert (collapse(a.model) != collapse(c.model)).any()


def test_loss_decreases_and_steps_are_reported() -> None:
    seen = []
    result = train(
        TrainConfig(kernels=128, epochs=6, batch_size=32, lr=3e-3), seed=0, on_step=seen.append
    )
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < losses[0]
    assert {"loss", "identity", "area", "center"} <= set(result.final)
    assert len(seen) == 6 * 4 and seen[-1].epoch == 5 and seen[-1].step == 3


def test_checkpoint_payload_is_plain_data_loadable_safely(tmp_path) -> None:
    from nssr_cli.kernels.checkpoints import load_checkpoint, save_checkpoint

    result = train(TINY, seed=0)
    save_checkpoint(tmp_path / "ck.pt", checkpoint_payload(result, "test"))
    ck = load_checkpoint(tmp_path / "ck.pt")  # torch.load(weights_only=True) inside
    assert TrainConfig.from_dict(ck["config"]) == TINY
    assert ck["parameters"] == result.model.num_parameters()
    assert set(ck["metrics"]) >= {"loss", "identity"}


@pytest.mark.parametrize("bad", [dict(epochs=0), dict(lr=-1.0), dict(objective="nope")])
def test_bad_settings_are_usage_errors(bad: dict) -> None:
    with pytest.raises(UsageError):
        train(TrainConfig(**{**TINY.to_dict(), "model": TINY.model, **bad}), seed=0)
