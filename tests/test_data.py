import gzip
import hashlib
import io
import pickle
import tarfile

import numpy as np
import torch
import pytest
from PIL import Image

from companion.core import data as D
from conftest import SHARED_DATA


def idx_bytes(arr: np.ndarray) -> bytes:
    head = bytes([0, 0, 8, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    return head + arr.astype(np.uint8).tobytes()


def write_mnist(folder, split="test", n=5, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, 28, 28))
    y = rng.integers(0, 10, size=n)
    folder.mkdir(parents=True, exist_ok=True)
    sums = {}
    for kind, arr in (("images", x), ("labels", y)):
        name = D.MNIST_FILES[split][kind]
        raw = idx_bytes(arr)
        blob = gzip.compress(raw) if gz else raw
        path = folder / (name if gz else name[:-3])
        path.write_bytes(blob)
        sums[name] = hashlib.md5(blob).hexdigest()
    return x, y, sums


def test_mnist_gz_loads_with_record(isolated_data):
    x, y, sums = write_mnist(isolated_data / "mnist")
    ds = D.load_mnist("test", isolated_data, checksums=sums, download=False)
    assert ds.images.shape == (5, 1, 28, 28) and ds.images.dtype.is_floating_point is False
    np.testing.assert_array_equal(ds.images[:, 0].numpy(), x)
    np.testing.assert_array_equal(ds.labels.numpy(), y)
    assert ds.record.split == "test" and ds.record.format == "IDX (gzip)"
    assert ds.record.files[0][1] == sums["t10k-images-idx3-ubyte.gz"]


def test_mnist_uncompressed_and_env_var(isolated_data, monkeypatch):
    x, y, _ = write_mnist(isolated_data, gz=False)
    monkeypatch.setenv("COMPANION_DATA_DIR", str(isolated_data))
    ds = D.load_mnist("test", download=False)
    np.testing.assert_array_equal(ds.labels.numpy(), y)
    assert ds.record.format == "IDX"


def test_checksum_mismatch_is_corrupt(isolated_data):
    write_mnist(isolated_data / "mnist")
    with pytest.raises(D.DataCorruptError, match="corrupt: MD5"):
        D.load_mnist("test", isolated_data, download=False)  # the official checksums do not match


def test_truncated_idx_is_corrupt(isolated_data):
    write_mnist(isolated_data / "mnist", gz=False)
    p = isolated_data / "mnist" / "t10k-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(D.DataCorruptError, match="truncated"):
        D.load_mnist("test", isolated_data, download=False)


def test_truncated_gzip_is_corrupt(isolated_data):
    _, _, sums = write_mnist(isolated_data / "mnist")
    p = isolated_data / "mnist" / "t10k-images-idx3-ubyte.gz"
    p.write_bytes(p.read_bytes()[:40])
    sums["t10k-images-idx3-ubyte.gz"] = hashlib.md5(p.read_bytes()).hexdigest()
    with pytest.raises(D.DataCorruptError, match="gzip"):
        D.load_mnist("test", isolated_data, checksums=sums, download=False)


def test_missing_offline_says_what_to_do(isolated_data):
    with pytest.raises(D.DataMissingError) as e:
        D.load_mnist("train", isolated_data)  # urlopen is disabled by conftest: like no network
    msg = str(e.value)
    assert "train-images-idx3-ubyte.gz not found" in msg and "--data-dir" in msg and "COMPANION_DATA_DIR" in msg
    assert "download failed" in msg


def test_offline_switch(isolated_data, monkeypatch):
    monkeypatch.setenv("COMPANION_OFFLINE", "1")
    with pytest.raises(D.DataMissingError, match="downloads are off"):
        D.load_mnist("test", isolated_data)


def test_download_is_verified_then_used(isolated_data):
    x, y, sums = write_mnist(isolated_data / "src")
    src = isolated_data / "src"
    calls = []

    def fake(url, dest):
        calls.append(url)
        dest.write_bytes((src / url.rsplit("/", 1)[1]).read_bytes())

    dl = isolated_data / "dl"
    dl.mkdir()
    ds = D.load_mnist("test", dl, checksums=sums, downloader=fake)
    np.testing.assert_array_equal(ds.labels.numpy(), y)
    assert (dl / "mnist" / "t10k-images-idx3-ubyte.gz").is_file() and len(calls) == 2


def test_bad_download_is_refused_and_not_kept(isolated_data):
    def fake(url, dest):
        dest.write_bytes(b"garbage")

    with pytest.raises(D.DataCorruptError):
        D.load_mnist("test", isolated_data, downloader=fake)
    assert not list(isolated_data.rglob("*.gz")) and not list(isolated_data.rglob("*.part"))


def test_bad_data_dir_and_split():
    with pytest.raises(D.DataMissingError, match="does not exist"):
        D.load_mnist("test", "/nonexistent/folder")
    with pytest.raises(ValueError, match="unknown MNIST split"):
        D.load_mnist("validation")


def cifar_arrays(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, size=n)


def test_cifar_python_batches_folder_and_archive(isolated_data):
    folder = isolated_data / "cifar-10-batches-py"
    folder.mkdir()
    x, y = cifar_arrays(12)
    for i in range(1, 6):
        sl = slice(2 * (i - 1), 2 * i)
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps({b"data": x[sl].reshape(2, -1), b"labels": list(y[sl])}))
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": x[10:].reshape(2, -1), b"labels": list(y[10:])}))
    tr = D.load_cifar10("train", isolated_data, download=False)
    np.testing.assert_array_equal(tr.images.numpy(), x[:10])
    np.testing.assert_array_equal(tr.labels.numpy(), y[:10])
    te = D.load_cifar10("test", isolated_data, download=False)
    assert te.images.shape == (2, 3, 32, 32)
    # the same batches as the official archive
    arch_root = isolated_data / "arch"
    arch_root.mkdir()
    arch = arch_root / "cifar-10-python.tar.gz"
    with tarfile.open(arch, "w:gz") as tf:
        tf.add(folder, arcname="cifar-10-batches-py")
    sums = {"cifar-10-python.tar.gz": hashlib.md5(arch.read_bytes()).hexdigest()}
    tr2 = D.load_cifar10("train", arch_root, checksums=sums, download=False)
    np.testing.assert_array_equal(tr2.images.numpy(), x[:10])
    assert "tar.gz" in tr2.record.format
    with pytest.raises(D.DataCorruptError):
        D.load_cifar10("train", arch_root, download=False)  # official checksum does not match


def write_jpeg_tree(base, split, per_class=2, seed=0):
    rng = np.random.default_rng(seed)
    for c in D.CIFAR10_CLASSES[:3]:
        d = base / split / c
        d.mkdir(parents=True)
        for k in range(per_class):
            Image.fromarray(rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)).save(d / f"{k:04d}.jpg", quality=95)


def test_cifar_jpeg_folder_and_tar(isolated_data):
    base = isolated_data / "cifar10-jpeg"
    write_jpeg_tree(base, "test")
    ds = D.load_cifar10("test", isolated_data, download=False)
    assert ds.images.shape == (6, 3, 32, 32) and sorted(ds.labels.tolist()) == [0, 0, 1, 1, 2, 2]
    assert "lossy" in ds.record.note
    # the same tree as a tar
    other = isolated_data / "other"
    (other / "cifar10-jpeg").mkdir(parents=True)
    tar_path = other / "cifar10-jpeg" / "test.tar"
    with tarfile.open(tar_path, "w") as tf:
        tf.add(base / "test", arcname="test")
    sums = {"cifar10-jpeg/test.tar": hashlib.md5(tar_path.read_bytes()).hexdigest()}
    ds2 = D.load_cifar10("test", other, checksums=sums, download=False)
    np.testing.assert_array_equal(ds2.labels.numpy(), ds.labels.numpy())
    np.testing.assert_array_equal(ds2.images.numpy(), ds.images.numpy())
    sub = D.load_cifar10("test", other, checksums=sums, download=False, limit=4, seed=1)
    assert sub.images.shape[0] == 4 and sub.record.n == 4


def test_cifar_jpeg_bad_member_is_corrupt(isolated_data):
    base = isolated_data / "cifar10-jpeg" / "test" / "airplane"
    base.mkdir(parents=True)
    (base / "0000.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(D.DataCorruptError, match="not a readable image"):
        D.load_cifar10("test", isolated_data, download=False)


def test_cifar_missing_offline(isolated_data):
    with pytest.raises(D.DataMissingError, match="cifar-10-python.tar.gz not found"):
        D.load_cifar10("train", isolated_data)


@pytest.mark.skipif(not (SHARED_DATA / "mnist").is_dir(), reason="../shared/data not present")
def test_real_shared_data():
    m = D.load_mnist("test", SHARED_DATA, download=False)
    assert m.images.shape == (10000, 1, 28, 28) and m.labels.bincount().sum() == 10000
    assert m.record.files[0][1] == D.CHECKSUMS["t10k-images-idx3-ubyte.gz"]
    c = D.load_cifar10("test", SHARED_DATA, download=False, limit=200)
    assert c.images.shape == (200, 3, 32, 32) and c.record.files[0][1] == D.CHECKSUMS["cifar10-jpeg/test.tar"]


def test_synthetic_teacher_is_seeded_balanced_and_validated():
    a = D.synthetic_teacher(n=200, d=10, hidden=11, seed=4, labels="median")
    b = D.synthetic_teacher(n=200, d=10, hidden=11, seed=4, labels="median")
    c = D.synthetic_teacher(n=200, d=10, hidden=11, seed=5, labels="median")
    assert a.x.shape == (200, 10) and a.y.shape == (200,)
    assert set(a.y.unique().tolist()) == {-1.0, 1.0} and int((a.y > 0).sum()) == 100
    s = D.synthetic_teacher(n=200, d=10, hidden=11, seed=4)     # realisable labels: sign of the teacher
    assert np.array_equal(s.x.numpy(), a.x.numpy()) and set(s.y.unique().tolist()) <= {-1.0, 1.0}
    with pytest.raises(ValueError, match="labelling rule"):
        D.synthetic_teacher(labels="coin")
    assert np.array_equal(a.x.numpy(), b.x.numpy()) and not np.array_equal(a.x.numpy(), c.x.numpy())
    assert "11 hidden units" in a.record.note
    with pytest.raises(ValueError, match="need n"):
        D.synthetic_teacher(n=1)


def test_standardize_uses_training_statistics():
    tr = torch.randint(0, 256, (50, 1, 4, 4), dtype=torch.uint8)
    te = torch.randint(0, 256, (7, 1, 4, 4), dtype=torch.uint8)
    a, b = D.standardize(tr, te)
    assert a.shape == (50, 16) and b.shape == (7, 16) and a.dtype == torch.float32
    torch.testing.assert_close(a.mean(0), torch.zeros(16), atol=1e-5, rtol=0)
    torch.testing.assert_close(a.std(0), torch.ones(16), atol=1e-4, rtol=0)
    mu, sd = tr.reshape(50, -1).float().mean(0), tr.reshape(50, -1).float().std(0)
    torch.testing.assert_close(b, (te.reshape(7, -1).float() - mu) / sd)


def test_stand_in_data_loads_in_the_real_layouts_and_says_it_is_generated(tmp_path):
    root = D.write_stand_in_data(tmp_path / "tiny", n_mnist=30, cifar_train_per_class=3, cifar_test_per_class=2)
    mn = D.load_mnist("test", root, download=False)
    assert mn.images.shape == (30, 1, 28, 28) and "STAND-IN" in mn.record.describe()
    cf = D.load_cifar10("train", root, download=False, limit=12)
    assert cf.images.shape == (12, 3, 32, 32) and "STAND-IN" in cf.record.note
    assert D.load_cifar10("test", root, download=False).images.shape[0] == 20
    assert D.stand_in_note(SHARED_DATA / "mnist") == ""


def test_orthonormal_teacher_has_unit_rows_orthonormal_when_it_can_and_a_tight_frame_otherwise():
    import torch

    from companion.core.data import synthetic_teacher

    V = D.teacher_weights(torch.randn(4, 6, dtype=torch.float64), "orthonormal")
    assert torch.allclose(V @ V.T, torch.eye(4, dtype=torch.float64), atol=1e-12)
    F = D.teacher_weights(torch.randn(11, 6, dtype=torch.float64), "orthonormal")
    assert torch.allclose(F.norm(dim=1), torch.ones(11, dtype=torch.float64), atol=1e-12)
    s = torch.linalg.svdvals(F)                      # a tight frame, rescaled per row: well conditioned, rank d
    assert len(s) == 6 and float(s.min()) > 0.5
    small = synthetic_teacher(n=50, d=6, hidden=4, seed=1, weights="orthonormal")
    big = synthetic_teacher(n=50, d=6, hidden=11, seed=1, weights="orthonormal")
    assert torch.equal(small.x, big.x) and "tight frame" in big.record.note
    with pytest.raises(ValueError, match="choose 'gaussian' or 'orthonormal'"):
        synthetic_teacher(n=50, weights="uniform")
