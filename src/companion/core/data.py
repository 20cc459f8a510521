"""Data sets: MNIST (IDX) and CIFAR-10 (python batches or a class-folder JPEG copy), checked.

Where the files are looked for, in order: ``data_dir`` (the ``--data-dir`` option), the environment
variable ``COMPANION_DATA_DIR``, the user cache ``$XDG_CACHE_HOME/companion`` (``~/.cache/companion``).
Missing official files are downloaded into the cache (or ``data_dir``) with MD5 checks; offline and
missing raises :class:`DataMissingError` naming the file and how to provide it; a file whose checksum
or structure is wrong raises :class:`DataCorruptError` and is never used.

Every loader returns a :class:`Dataset`: ``images`` uint8 tensor (n, C, H, W), ``labels`` int64 (n,)
and a :class:`DataRecord` saying which split, format, files and checksums were used.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Mapping, Sequence

import numpy as np
import torch

from companion.core.files import cache_dir

Split = Literal["train", "test"]

#: Official files and their MD5 checksums (as torchvision lists them).
MNIST_FILES: dict[str, dict[str, str]] = {
    "train": {"images": "train-images-idx3-ubyte.gz", "labels": "train-labels-idx1-ubyte.gz"},
    "test": {"images": "t10k-images-idx3-ubyte.gz", "labels": "t10k-labels-idx1-ubyte.gz"},
}
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_CLASSES: tuple[str, ...] = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                    "ship", "truck")

CHECKSUMS: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    "cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a",
    # the public JPEG re-encoding of CIFAR-10 kept offline in ../shared/data/cifar10-jpeg
    "cifar10-jpeg/train.tar": "afbf48eca7218d984b76d4988646a82a",
    "cifar10-jpeg/test.tar": "6d6882bb1249b7918eaea4b2437bddeb",
}


class DataError(RuntimeError):
    """Base class of data problems; the message says what to do."""


class DataMissingError(DataError):
    """A needed file is absent and could not be downloaded."""


class DataCorruptError(DataError):
    """A file exists but its checksum or structure is wrong."""


@dataclass(frozen=True)
class DataRecord:
    """Which data a result came from."""

    name: str
    split: str
    format: str
    files: tuple[tuple[str, str], ...]  # (path, md5)
    n: int
    note: str = ""

    def describe(self) -> str:
        files = ", ".join(f"{Path(p).name} (md5 {m[:8]}…)" for p, m in self.files)
        s = f"{self.name} {self.split} split, {self.n} examples, {self.format}: {files}"
        return s + (f"; {self.note}" if self.note else "")


@dataclass(frozen=True)
class Dataset:
    images: torch.Tensor  # (n, C, H, W) uint8
    labels: torch.Tensor  # (n,) int64
    record: DataRecord


# ---- locations ---------------------------------------------------------------------------------------

def data_roots(data_dir: str | Path | None = None) -> list[Path]:
    """Folders searched, in order: ``data_dir``, ``$COMPANION_DATA_DIR``, the user cache."""
    roots: list[Path] = []
    if data_dir:
        p = Path(data_dir).expanduser()
        if not p.is_dir():
            raise DataMissingError(f"data directory {p} does not exist: pass an existing folder to --data-dir "
                                   "(e.g. ../shared/data) or leave it out")
        roots.append(p)
    env = os.environ.get("COMPANION_DATA_DIR")
    if env:
        roots.append(Path(env).expanduser())
    roots.append(cache_dir())
    return roots


def download_root(roots: Sequence[Path]) -> Path:
    """Where downloads go: the first root that is (or can be) a writable folder, else the user cache."""
    for r in roots:
        probe = r if r.exists() else r.parent
        if os.access(probe, os.W_OK):
            return r
    return cache_dir()


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def verify(path: Path, key: str, checksums: Mapping[str, str] | None = None) -> str:
    """Check ``path`` against the MD5 registered under ``key``; return the MD5 (or raise)."""
    sums = CHECKSUMS if checksums is None else checksums
    actual = md5sum(path)
    expected = sums.get(key)
    if expected is not None and actual != expected:
        raise DataCorruptError(f"{path} is corrupt: MD5 {actual}, expected {expected}. Delete it and rerun to "
                               "download it again, or replace it with the official file.")
    return actual


Downloader = Callable[[str, Path], None]


def _urlretrieve(url: str, dest: Path) -> None:
    with urllib.request.urlopen(url, timeout=30) as resp, open(dest, "wb") as out:
        while block := resp.read(1 << 20):
            out.write(block)


def fetch(filename: str, urls: Sequence[str], roots: Sequence[Path], *, subdirs: Sequence[str] = ("",),
          download: bool = True, checksums: Mapping[str, str] | None = None,
          downloader: Downloader | None = None, key: str | None = None) -> tuple[Path, str]:
    """Find ``filename`` under any root (and subdir), verified; else download it into the first writable root.

    Returns (path, md5). Raises :class:`DataMissingError` (offline / not found) or :class:`DataCorruptError`.
    """
    key = key or filename
    for root in roots:
        for sub in subdirs:
            cand = root / sub / filename
            if cand.is_file():
                return cand, verify(cand, key, checksums)
    searched = ", ".join(str(r / s) for r in roots for s in subdirs)
    offline = os.environ.get("COMPANION_OFFLINE", "") not in ("", "0")
    if download and urls and not offline:
        dest = download_root(roots) / subdirs[0] / filename
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        errors = []
        for url in urls:
            try:
                (downloader or _urlretrieve)(url, part)
                md5 = verify(part, key, checksums)
                os.replace(part, dest)
                return dest, md5
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                errors.append(f"{url}: {exc}")
            finally:
                part.unlink(missing_ok=True)
        reason = "download failed (" + "; ".join(errors) + ")"
    else:
        reason = "downloads are off (COMPANION_OFFLINE=1)" if offline else "downloads were not allowed"
    where = urls[0] if urls else "its source"
    raise DataMissingError(
        f"{filename} not found (searched {searched}) and {reason}. Fix: put {filename} in one of those folders "
        f"(official source: {where}), or point --data-dir / COMPANION_DATA_DIR at a folder that has it "
        "(offline copies live in ../shared/data on the project's machines).")


# ---- MNIST -------------------------------------------------------------------------------------------

def read_idx(raw: bytes, name: str) -> np.ndarray:
    """Parse an IDX file (magic 0x0000 08 ndim, big-endian sizes, uint8 data)."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataCorruptError(f"{name} is not an IDX uint8 file (bad magic number): replace it with the official file")
    ndim = raw[3]
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise DataCorruptError(f"{name} is truncated (header): replace it with the official file")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    size = int(np.prod(shape))
    if len(raw) != head + size:
        raise DataCorruptError(f"{name} is truncated or padded: {len(raw) - head} data bytes, expected {size} "
                               f"for shape {shape}; replace it with the official file")
    return np.frombuffer(raw, dtype=np.uint8, offset=head).reshape(shape)


def _read_maybe_gz(path: Path) -> bytes:
    if path.suffix == ".gz":
        try:
            with gzip.open(path, "rb") as fh:
                return fh.read()
        except (OSError, EOFError) as exc:
            raise DataCorruptError(f"{path} is not a valid gzip file ({exc}): delete it and download it again") from exc
    return path.read_bytes()


def _find_mnist_file(gz_name: str, roots: Sequence[Path], download: bool, checksums: Mapping[str, str] | None,
                     downloader: Downloader | None) -> tuple[Path, str]:
    raw_name = gz_name[:-3]
    for root in roots:  # an uncompressed copy is accepted too (its structure is checked on reading)
        for sub in ("mnist", ""):
            if (root / sub / raw_name).is_file() and not (root / sub / gz_name).is_file():
                p = root / sub / raw_name
                return p, md5sum(p)
    return fetch(gz_name, [m + gz_name for m in MNIST_MIRRORS], roots, subdirs=("mnist", ""), download=download,
                 checksums=checksums, downloader=downloader)


def load_mnist(split: Split = "test", data_dir: str | Path | None = None, *, download: bool = True,
               checksums: Mapping[str, str] | None = None, downloader: Downloader | None = None) -> Dataset:
    """MNIST ``split`` as uint8 images (n, 1, 28, 28) and labels (n,)."""
    if split not in MNIST_FILES:
        raise ValueError(f"unknown MNIST split {split!r}: choose 'train' or 'test'")
    roots = data_roots(data_dir)
    files = MNIST_FILES[split]
    (ip, imd5) = _find_mnist_file(files["images"], roots, download, checksums, downloader)
    (lp, lmd5) = _find_mnist_file(files["labels"], roots, download, checksums, downloader)
    images = read_idx(_read_maybe_gz(ip), str(ip))
    labels = read_idx(_read_maybe_gz(lp), str(lp))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataCorruptError(f"MNIST {split}: images {images.shape} and labels {labels.shape} do not match")
    rec = DataRecord("MNIST", split, "IDX" + (" (gzip)" if ip.suffix == ".gz" else ""),
                     ((str(ip), imd5), (str(lp), lmd5)), len(labels), note=stand_in_note(ip))
    return Dataset(torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64)), rec)


# ---- CIFAR-10 ----------------------------------------------------------------------------------------

def _cifar_from_batches(batches: Sequence[bytes], names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for raw, name in zip(batches, names):
        try:
            d = pickle.loads(raw, encoding="bytes")
            x = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            y = np.asarray(d[b"labels"], dtype=np.int64)
        except Exception as exc:  # noqa: BLE001 - any unpickling problem means a bad file
            raise DataCorruptError(f"CIFAR-10 batch {name} cannot be read ({exc}): replace it with the official file") from exc
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def _batch_names(split: Split) -> list[str]:
    return [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]


def _jpeg_members(split: Split, root: Path) -> tuple[list[tuple[str, Callable[[], bytes]]], list[tuple[str, str]], str]:
    """(name, reader) for every image of the JPEG copy, from ``root/cifar10-jpeg/{split}.tar`` or a folder."""
    tar_path = root / "cifar10-jpeg" / f"{split}.tar"
    folder = root / "cifar10-jpeg" / split
    if tar_path.is_file():
        return [], [(str(tar_path), "")], "tar"
    if folder.is_dir():
        files = sorted(folder.glob("*/*.jpg"))
        return [(str(f.relative_to(folder)), f.read_bytes) for f in files], [(str(folder), "(folder)")], "folder"
    return [], [], ""


def _decode_jpegs(items: Sequence[tuple[str, bytes]], source: str) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    x = np.empty((len(items), 3, 32, 32), dtype=np.uint8)
    y = np.empty(len(items), dtype=np.int64)
    for k, (name, raw) in enumerate(items):
        parts = Path(name).parts
        cls = parts[-2] if len(parts) >= 2 else ""
        if cls not in CIFAR10_CLASSES:
            raise DataCorruptError(f"{source}: {name} is not in a CIFAR-10 class folder ({', '.join(CIFAR10_CLASSES)})")
        try:
            img = Image.open(io.BytesIO(raw)).convert("RGB")
        except Exception as exc:  # noqa: BLE001
            raise DataCorruptError(f"{source}: {name} is not a readable image ({exc})") from exc
        if img.size != (32, 32):
            raise DataCorruptError(f"{source}: {name} is {img.size[0]}×{img.size[1]}, expected 32×32")
        x[k] = np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)
        y[k] = CIFAR10_CLASSES.index(cls)
    return x, y


def _subsample(n: int, limit: int | None, seed: int) -> np.ndarray:
    if limit is None or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def load_cifar10(split: Split = "train", data_dir: str | Path | None = None, *, limit: int | None = None,
                 seed: int = 0, download: bool = True, checksums: Mapping[str, str] | None = None,
                 downloader: Downloader | None = None) -> Dataset:
    """CIFAR-10 ``split`` as uint8 images (n, 3, 32, 32) and labels (n,).

    Looks for, in each root: the official python batches (``cifar-10-batches-py/`` or
    ``cifar-10-python.tar.gz``), then the class-folder JPEG copy (``cifar10-jpeg/{split}.tar`` or
    ``cifar10-jpeg/{split}/<class>/*.jpg``); if none is found, downloads the official archive.
    ``limit`` keeps a seeded random subset of that many images (decoding only those).
    """
    if split not in ("train", "test"):
        raise ValueError(f"unknown CIFAR-10 split {split!r}: choose 'train' or 'test'")
    roots = data_roots(data_dir)
    sums = CHECKSUMS if checksums is None else checksums
    for root in roots:
        folder = root / "cifar-10-batches-py"
        if folder.is_dir():
            names = _batch_names(split)
            missing = [n for n in names if not (folder / n).is_file()]
            if missing:
                raise DataMissingError(f"{folder} lacks {', '.join(missing)}: restore the official batches")
            x, y = _cifar_from_batches([(folder / n).read_bytes() for n in names], names)
            idx = _subsample(len(y), limit, seed)
            rec = DataRecord("CIFAR-10", split, "official python batches (folder)", ((str(folder), "(folder)"),), len(idx))
            return Dataset(torch.from_numpy(x[idx]), torch.from_numpy(y[idx]), rec)
        archive = root / "cifar-10-python.tar.gz"
        if archive.is_file():
            return _cifar_from_archive(archive, verify(archive, "cifar-10-python.tar.gz", sums), split, limit, seed)
        members, files, kind = _jpeg_members(split, root)
        if kind == "tar":
            tar_path = Path(files[0][0])
            md5 = verify(tar_path, f"cifar10-jpeg/{split}.tar", sums)
            try:
                with tarfile.open(tar_path) as tf:
                    infos = sorted((m for m in tf.getmembers() if m.isfile() and m.name.endswith(".jpg")),
                                   key=lambda m: m.name)
                    idx = _subsample(len(infos), limit, seed)
                    items = [(infos[i].name, tf.extractfile(infos[i]).read()) for i in idx]
            except tarfile.TarError as exc:
                raise DataCorruptError(f"{tar_path} is not a readable tar ({exc}): replace it") from exc
            x, y = _decode_jpegs(items, str(tar_path))
            rec = DataRecord("CIFAR-10", split, "JPEG copy (class folders in a tar)", ((str(tar_path), md5),), len(y),
                             note="JPEG is lossy: pixels differ slightly from the official CIFAR-10 batches")
            return Dataset(torch.from_numpy(x), torch.from_numpy(y), rec)
        if kind == "folder":
            idx = _subsample(len(members), limit, seed)
            x, y = _decode_jpegs([(members[i][0], members[i][1]()) for i in idx], files[0][0])
            rec = DataRecord("CIFAR-10", split, "JPEG copy (class folders)", tuple(files), len(y),
                             note=stand_in_note(root / "cifar10-jpeg")
                             or "JPEG is lossy: pixels differ slightly from the official CIFAR-10 batches")
            return Dataset(torch.from_numpy(x), torch.from_numpy(y), rec)
    path, md5 = fetch("cifar-10-python.tar.gz", [CIFAR10_URL], roots, download=download, checksums=checksums,
                      downloader=downloader)
    return _cifar_from_archive(path, md5, split, limit, seed)


def _cifar_from_archive(path: Path, md5: str, split: Split, limit: int | None, seed: int) -> Dataset:
    names = _batch_names(split)
    try:
        with tarfile.open(path, "r:gz") as tf:
            raws = []
            for n in names:
                member = tf.extractfile(f"cifar-10-batches-py/{n}")
                if member is None:
                    raise DataCorruptError(f"{path} lacks cifar-10-batches-py/{n}")
                raws.append(member.read())
    except (tarfile.TarError, KeyError, OSError, EOFError) as exc:
        raise DataCorruptError(f"{path} is not a complete CIFAR-10 archive ({exc}): delete it and download it again") from exc
    x, y = _cifar_from_batches(raws, names)
    idx = _subsample(len(y), limit, seed)
    rec = DataRecord("CIFAR-10", split, "official python batches (tar.gz)", ((str(path), md5),), len(idx))
    return Dataset(torch.from_numpy(x[idx]), torch.from_numpy(y[idx]), rec)


# ---- synthetic teacher set (P1 §5.1) ----------------------------------------------------------------------

@dataclass(frozen=True)
class SyntheticSet:
    x: torch.Tensor      # (n, d) float64, rows are samples
    y: torch.Tensor      # (n,) float64 in {−1, +1}
    record: DataRecord


def teacher_weights(V: torch.Tensor, kind: Literal["gaussian", "orthonormal"]) -> torch.Tensor:
    """(hidden, d) teacher weights from a Gaussian draw V: V itself, or (``"orthonormal"``) orthonormal rows
    when hidden ≤ d, else the unit-normalised rows of a matrix with orthonormal columns (a tight frame)."""
    if kind == "gaussian":
        return V
    hidden, d = V.shape
    Q = torch.linalg.qr(V if hidden >= d else V.T)[0]                 # orthonormal columns
    Q = Q if hidden >= d else Q.T
    return Q / Q.norm(dim=1, keepdim=True)


def synthetic_teacher(n: int = 1000, d: int = 10, hidden: int = 11, seed: int = 0, *,
                      labels: Literal["sign", "median"] = "sign",
                      weights: Literal["gaussian", "orthonormal"] = "gaussian") -> SyntheticSet:
    """P1 §5.1's synthetic set, with the choices the paper leaves open made explicit.

    Inputs x ~ N(0, I_d); a one-hidden-layer ReLU teacher f*(x) = Σ_k a_k relu(v_kᵀx) with ``hidden``
    units and no biases (as in P1 §5.1), v_k ~ N(0, I_d/d), output weights a_k = ±1 (⌈hidden/2⌉ positive,
    the rest negative, shuffled). Labels: ``"sign"``: y = sign f*(x) (realisable by a student with ≥ hidden
    units, so the global minimum of the hinge loss is 0); ``"median"``: y = sign(f*(x) − median), balanced.
    ``weights="orthonormal"``: Safran & Shamir's teacher (P1's [49]) has orthonormal v_k; with hidden > d that
    is impossible, so the v_k are then the unit-normalised rows of a random (hidden × d) matrix with
    orthonormal columns (a tight frame; exactly orthonormal rows when hidden ≤ d).
    """
    if n < 2 or d < 1 or hidden < 1:
        raise ValueError(f"need n ≥ 2, d ≥ 1, hidden ≥ 1; got n={n}, d={d}, hidden={hidden}")
    if labels not in ("sign", "median"):
        raise ValueError(f"unknown labelling rule {labels!r}: choose 'sign' or 'median'")
    if weights not in ("gaussian", "orthonormal"):
        raise ValueError(f"unknown teacher weights {weights!r}: choose 'gaussian' or 'orthonormal'")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    V = teacher_weights(torch.randn(hidden, d, generator=g, dtype=torch.float64) / np.sqrt(d), weights)
    a = torch.ones(hidden, dtype=torch.float64)
    a[(hidden + 1) // 2:] = -1.0
    a = a[torch.randperm(hidden, generator=g)]
    score = torch.relu(x @ V.T) @ a
    thr = score.median() if labels == "median" else 0.0
    y = torch.where(score > thr, 1.0, -1.0).to(torch.float64)
    rule = "y = sign(f*(x) − median)" if labels == "median" else "y = sign f*(x)"
    rec = DataRecord("synthetic teacher", "all", "generated", (), n,
                     note=f"x ~ N(0, I_{d}), teacher ReLU net with {hidden} hidden units, no biases ("
                          f"{'v ~ N(0, I/d)' if weights == 'gaussian' else 'unit v_k, orthonormal / a tight frame'}, "
                          f"output weights ±1), {rule}, seed {seed}")
    return SyntheticSet(x, y, rec)


def standardize(train: torch.Tensor, *others: torch.Tensor, eps: float = 1e-6) -> list[torch.Tensor]:
    """Flatten uint8 images (n, C, H, W) to float32 (n, C·H·W) and standardise every pixel by the training
    set's mean and standard deviation (P1's preprocessing); the same statistics are applied to ``others``."""
    flat = [t.reshape(t.shape[0], -1).to(torch.float32) for t in (train, *others)]
    mu = flat[0].mean(0)
    sd = flat[0].std(0).clamp_min(eps)
    return [(f - mu) / sd for f in flat]


# ---- generated stand-ins (tests and quick tries without the real files) -----------------------------------

STAND_IN_MARKER = "STAND_IN_DATA"


def stand_in_note(path: Path) -> str:
    """A warning for data read from a folder made by :func:`write_stand_in_data` ('' for real data)."""
    for folder in (path, *list(Path(path).parents)[:2]):
        if (folder / STAND_IN_MARKER).is_file():
            return "GENERATED STAND-IN (random pixels and labels), not the real data set: for tests only"
    return ""


def write_stand_in_data(dest: str | Path, *, n_mnist: int = 1600, cifar_train_per_class: int = 220,
                        cifar_test_per_class: int = 60, seed: int = 0) -> Path:
    """Write tiny files in the real layouts, with random pixels and labels, under ``dest``:
    ``mnist/t10k-*-idx?-ubyte`` (uncompressed IDX, n_mnist images) and ``cifar10-jpeg/{train,test}/<class>/*.jpg``.

    For running the data chapters at ``smoke`` where the real files are absent and the network is off: every
    data record read from it says it is a stand-in. Returns ``dest``.
    """
    from PIL import Image

    dest = Path(dest)
    rng = np.random.default_rng(seed)
    (dest / "mnist").mkdir(parents=True, exist_ok=True)
    arrays = {"images": rng.integers(0, 256, size=(n_mnist, 28, 28)), "labels": rng.integers(0, 10, size=n_mnist)}
    for kind, arr in arrays.items():
        head = bytes([0, 0, 8, arr.ndim]) + b"".join(int(k).to_bytes(4, "big") for k in arr.shape)
        (dest / "mnist" / MNIST_FILES["test"][kind][:-3]).write_bytes(head + arr.astype(np.uint8).tobytes())
    for split, per in (("train", cifar_train_per_class), ("test", cifar_test_per_class)):
        for c in CIFAR10_CLASSES:
            folder = dest / "cifar10-jpeg" / split / c
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(per):
                img = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
                Image.fromarray(img).save(folder / f"{k:04d}.jpg", quality=90)
    (dest / STAND_IN_MARKER).write_text("Generated by companion.core.data.write_stand_in_data: not real data.\n")
    return dest
