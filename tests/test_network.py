from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pimopt import InputError, Layer, Network
from tests.conftest import random_network


def test_save_load_round_trip(tmp_path: Path) -> None:
    net = random_network(3, branchy=True, n_layers=4)
    path = net.save(tmp_path / "net")
    assert path == tmp_path / "net.json" and (tmp_path / "net.npz").exists()
    back = Network.load(path)
    assert back.content_hash() == net.content_hash()
    assert back.metadata() == net.metadata()
    for a, b in zip(net.layers, back.layers, strict=True):
        assert np.array_equal(a.weights, b.weights)
    assert Network.load(tmp_path / "net.npz").name == net.name  # the NPZ path works too
    assert back.dependencies() == net.dependencies()
    assert back.dependencies()[3] == sorted(back.dependencies()[3]) and 2 in back.dependencies()[3]


def test_save_keeps_dots_in_names(tmp_path: Path) -> None:
    path = random_network(2).save(tmp_path / "net-s0.5")
    assert path.name == "net-s0.5.json" and (tmp_path / "net-s0.5.npz").exists()
    assert Network.load(path).content_hash() == random_network(2).content_hash()


def test_content_hash_changes_with_any_weight(tmp_path: Path) -> None:
    net = random_network(4)
    w = net.layers[0].weights.copy()
    w[0, 0] = 1 - w[0, 0] if w[0, 0] != 1 else 0
    other = Network(name=net.name, layers=(Layer("l0", w, net.layers[0].n_inputs),
                                           *net.layers[1:]), weight_bits=net.weight_bits)
    assert other.content_hash() != net.content_hash()


def test_tampered_files_are_detected(tmp_path: Path) -> None:
    net = random_network(5)
    path = net.save(tmp_path / "net")
    meta = json.loads(path.read_text())
    meta["layers"][0]["n_inputs"] += 1
    path.write_text(json.dumps(meta))
    with pytest.raises(InputError, match="content hash mismatch"):
        Network.load(path)


def test_bad_files_give_clear_errors(tmp_path: Path) -> None:
    net = random_network(6)
    path = net.save(tmp_path / "net")
    (tmp_path / "net.npz").write_bytes(b"this is not a zip archive")
    with pytest.raises(InputError, match=r"not a valid \.npz"):
        Network.load(path)
    (tmp_path / "net.npz").unlink()
    with pytest.raises(InputError, match="does not exist"):
        Network.load(path)
    path.write_text("{ not json")
    with pytest.raises(InputError, match="not valid JSON"):
        Network.load(path)
    with pytest.raises(InputError, match="does not exist"):
        Network.load(tmp_path / "missing.json")


def test_nan_weights_in_file(tmp_path: Path) -> None:
    net = random_network(7, n_layers=1)
    path = net.save(tmp_path / "net")
    w = net.layers[0].weights.astype(float)
    w[0, 0] = np.nan
    np.savez(tmp_path / "net.npz", layer_0=w)
    meta = json.loads(path.read_text())
    del meta["sha256"]
    path.write_text(json.dumps(meta))
    with pytest.raises(InputError, match="Layer 'l0': weights contain NaN"):
        Network.load(path)


def test_validation_messages() -> None:
    with pytest.raises(InputError, match="has no layers"):
        Network(name="empty", layers=())
    w = np.ones((2, 2), dtype=int)
    with pytest.raises(InputError, match="not an earlier layer"):
        Network(name="n", layers=(Layer("a", w, deps=("b",)), Layer("b", w)))
    with pytest.raises(InputError, match="repeated"):
        Network(name="n", layers=(Layer("a", w), Layer("a", w)))
    with pytest.raises(InputError, match="exceeds 7"):
        Network(name="n", layers=(Layer("a", w * 9),), weight_bits=4)
    with pytest.raises(InputError, match="not integers"):
        Layer("a", np.full((2, 2), 0.5))
    with pytest.raises(InputError, match="n_inputs = 0"):
        Layer("a", w, n_inputs=0)
    with pytest.raises(InputError, match="encoding"):
        Network(name="n", layers=(Layer("a", w),), encoding="twos")
    with pytest.raises(InputError, match="shape"):
        Layer("a", np.ones(3, dtype=int))


@pytest.mark.parametrize("how", ["climb", "absolute", "symlink out"])
def test_weights_file_outside_the_networks_folder_is_refused(tmp_path: Path, how: str) -> None:
    """A network JSON names its weights file inside its own folder: an absolute path,
    ``..`` or a symlink that points out is refused, naming the field."""
    net = Network("n", (Layer("a", np.array([[1, -2], [3, 0]])),), weight_bits=4)
    folder = tmp_path / "net"
    folder.mkdir()
    net.save(folder / "n.json")
    outside = tmp_path / "w.npz"
    (folder / "n.npz").rename(outside)
    meta = json.loads((folder / "n.json").read_text())
    if how == "climb":
        meta["weights_file"] = "../w.npz"
    elif how == "absolute":
        meta["weights_file"] = str(outside)
    else:
        (folder / "n.npz").symlink_to(outside)
    (folder / "n.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="weights_file"):
        Network.load(folder / "n.json")


@pytest.mark.parametrize("n", [0, 2**53 + 1, 2**64])
def test_n_inputs_beyond_the_exact_range_is_refused(n: int) -> None:
    with pytest.raises(InputError, match=r"n_inputs = \d+ is invalid: an integer from 1 to "
                                         r"9,007,199,254,740,992"):
        Layer(name="l", weights=np.ones((2, 2), dtype=np.int32), n_inputs=n)
