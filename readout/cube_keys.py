"""The cube's grouping keys: its labels, its sort order, and sums by integer codes.

Each cube table is a few `np.bincount`s over dense group codes rather than polars group-bys
and sorts. A span's tables are read once each, with the columns the cube needs; every row
points at its session (and item) by position. Codes follow the cube's sort order (by label,
column after column, null first), so groups come out sorted. bincount adds a group's values
one after another in row order, so the float sums (GMV, latency) are those of a group-by over
the same rows in the same order, bit for bit: sessions in id order, requests and orders in
file order. Integer counts are packed several to one float64 weight, exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import polars as pl

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


def labelled(frame: Frame) -> Frame:
    """Dimension columns as the cube's strings: categoricals to text, city tiers named."""
    schema = frame.collect_schema()
    exprs = []
    for name, dtype in schema.items():
        if name == "city_tier" and dtype.is_integer():
            exprs.append(pl.format("tier {}", pl.col(name)).alias(name))
        elif isinstance(dtype, pl.Categorical | pl.Enum):
            exprs.append(pl.col(name).cast(pl.String))
    return frame.with_columns(exprs) if exprs else frame


@dataclass(frozen=True)
class Key:
    """A grouping key: each row's code, and the key's values (row `c` of `values`: code c)."""

    codes: np.ndarray
    values: pl.DataFrame

    @property
    def size(self) -> int:
        return self.values.height


# A table indexed by value (a slot per possible value) is used where it holds at most DENSITY
# slots per value looked up, or at most TABLE_SLOTS slots (512 KiB of int64) whatever the
# density: filling and reading it then costs less than sorting or binary search.
DENSITY = 4
TABLE_SLOTS = 1 << 16


def fits_table(span: int, values: int, slots: int = TABLE_SLOTS) -> bool:
    """Whether `values` values spread over `span` (highest less lowest) are dense enough for
    a table by value (see DENSITY; `slots`: the size allowed at any density)."""
    return span <= max(DENSITY * values, slots)


def dense_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integers as dense codes in their order, and a row holding each code."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    low, high = int(values.min()), int(values.max())
    if not fits_table(high - low, len(values)):  # sparse: sort instead, unless sorted
        if (values[1:] >= values[:-1]).all():  # runs of equal values, in order already
            change = values[1:] != values[:-1]
            codes = np.zeros(len(values), dtype=np.int64)
            np.cumsum(change, out=codes[1:])
            return codes, np.concatenate(([0], np.flatnonzero(change) + 1))
        _, rows, codes = np.unique(values, return_index=True, return_inverse=True)
        return codes.reshape(-1).astype(np.int64), rows
    shifted = values - low if low else values
    seen = np.zeros(high - low + 1, dtype=np.int64)
    seen[shifted] = 1
    table = np.cumsum(seen)
    table -= 1
    codes = table[shifted]
    rows = np.empty(int(table[-1]) + 1, dtype=np.int64)
    rows[codes] = np.arange(len(values))
    return codes, rows


def _integers(column: pl.Series) -> np.ndarray:
    """A column's values as integers that tell them apart (null too), for grouping."""
    if isinstance(column.dtype, pl.Categorical | pl.Enum):
        column = column.to_physical()
    elif not (column.dtype.is_integer() or column.dtype.is_temporal()):
        column = column.rank("dense")  # strings: the catalogue's few, once per cube
    ints = column.cast(pl.Int64)
    if ints.null_count():
        ints = ints.fill_null(-1 if ints.null_count() == len(ints) else ints.min() - 1)
    return ints.to_numpy()


def _sort_ranks(values: pl.Series) -> np.ndarray:
    """Each of a few distinct values' rank in the cube's order: by its label (`labelled`'s
    text), null first (Python orders strings by code point, as polars orders them by UTF-8
    bytes). Values in `dense_codes` order that are their own labels (numbers, dates) are
    ranked already."""
    if isinstance(values.dtype, pl.Categorical | pl.Enum):
        labels = values.cast(pl.String).to_list()
    elif values.name == "city_tier" and values.dtype.is_integer():
        labels = [None if v is None else f"tier {v}" for v in values.to_list()]
    elif values.dtype == pl.String:
        labels = values.to_list()
    else:
        return np.arange(len(values))
    order = sorted(range(len(labels)), key=lambda i: (labels[i] is not None, labels[i]))
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(len(order))
    return ranks


def group_key(frame: pl.DataFrame) -> Key:
    """The distinct rows of `frame` as a key, coded in the order the cube sorts them (by
    their labels, column after column, null first): a grid of such keys is in that order."""
    if frame.width > 1:
        return combined(*(group_key(column.to_frame()) for column in frame.iter_columns()))
    column = frame.to_series()
    codes, rows = dense_codes(_integers(column))
    values = column[rows]
    ranks = _sort_ranks(values)
    return Key(ranks[codes], values[np.argsort(ranks)].to_frame())


def combined(*keys: Key) -> Key:
    """Keys of the same rows as one (their values side by side), in the same order."""
    flat = np.zeros(len(keys[0].codes), dtype=np.int64)
    bound = 1  # flat < bound
    for key in keys:
        if not fits_table(bound * key.size, len(flat)):  # renumbered densely, in the
            flat, rows = dense_codes(flat)  # same order: the last `dense_codes` needs no sort
            bound = len(rows)
        flat = flat * key.size + key.codes
        bound *= key.size
    codes, rows = dense_codes(flat)
    values = [key.values[key.codes[rows]] for key in keys]
    return Key(codes, pl.concat(values, how="horizontal"))


def long_key(parts: dict[str, pl.DataFrame]) -> tuple[dict[str, int], pl.DataFrame]:
    """Several one-column keys' values as one (dim, value) key in long form, in the cube's
    order (by dimension name, then value): where each part's codes start in it, and its
    values as the cube's strings."""
    offsets, dims, values = {}, [], []
    for dim in sorted(parts):
        offsets[dim] = len(dims)
        dims += [dim] * parts[dim].height
        values.append(labelled(parts[dim]).to_series().cast(pl.String))
    return offsets, pl.DataFrame({"dim": dims, "value": pl.concat(values)})


ALL = pl.DataFrame({"value": ["all"]})  # the one value of `dim = "all"`


class Grid:
    """Groups of several keys at once: a group's code is its keys' codes in mixed radix, so
    counts and sums are `np.bincount`s over every combination (few: a span's hours, days).
    With keys in the cube's order (`group_key`), groups in code order are sorted rows."""

    def __init__(self, *keys: pl.DataFrame) -> None:
        self.keys = keys
        self.shape = tuple(key.height for key in keys)
        self.size = int(np.prod(self.shape, dtype=np.int64))

    def code(self, *codes: np.ndarray) -> np.ndarray:
        flat = np.zeros(len(codes[0]), dtype=np.int64)
        for part, size in zip(codes, self.shape, strict=True):
            flat = flat * size + part
        return flat

    def count(self, *blocks: np.ndarray) -> np.ndarray:
        """Rows per group, of blocks of rows given by their group codes."""
        total = np.zeros(self.size, dtype=np.int64)
        for block in blocks:
            total += np.bincount(block, minlength=self.size)
        return total

    def sum(self, weights: np.ndarray, *blocks: np.ndarray) -> np.ndarray:
        """A measure summed per group, in row order (a group's rows lie in one block; the
        other blocks add exact zeros). Integer sums are exact below 2**53."""
        total = np.zeros(self.size)
        for block in blocks:
            total += np.bincount(block, weights=weights, minlength=self.size)
        return total

    def rows(self, groups: np.ndarray) -> pl.DataFrame:
        """The key columns of groups given by code."""
        index = np.unravel_index(groups, self.shape)
        return pl.concat([k[i] for k, i in zip(self.keys, index, strict=True)], how="horizontal")


def joint_groups(sizes: dict[str, int], most: int) -> list[list[str]]:
    """Keys (by their number of values) packed into groups whose joint values (the product)
    stay within `most` where they can: counted jointly in one `np.bincount`, each key's
    counts are sums over the others, exact for integers, in one pass instead of one each."""
    groups: list[list[str]] = []
    products: list[int] = []
    for name in sorted(sizes, key=lambda n: -sizes[n]):
        size = max(sizes[name], 1)
        for i, product in enumerate(products):
            if product * size <= most:
                groups[i].append(name)
                products[i] *= size
                break
        else:
            groups.append([name])
            products.append(size)
    return groups


def summed_out(
    joint: np.ndarray, group: list[str], total: bool
) -> Iterator[tuple[str, np.ndarray]]:
    """Each key's counts out of the joint counts of a group of keys (`joint_groups`), shaped
    (lead, *the keys' sizes, *rest): the other keys summed out (exact for integers, also
    packed in float64 below 2**53), shaped (lead, size, *rest); with `total`, also "all":
    every key summed out, shaped (lead, 1, *rest)."""
    axes = range(1, len(group) + 1)
    for i, name in enumerate(group):
        others = tuple(axis for axis in axes if axis != i + 1)
        yield name, joint.sum(axis=others) if others else joint
    if total:
        yield "all", joint.sum(axis=tuple(axes))[:, None]


def id_ints(column: pl.Series) -> np.ndarray:
    """An integer id column as int64 (a null as 0: callers mask nulls themselves)."""
    if column.null_count():
        column = column.fill_null(0)
    return column.cast(pl.Int64).to_numpy()


@dataclass(frozen=True)
class Runs:
    """A log table's rows as runs of one session each (a session's rows lie together): the
    session row of each run (-1 for a session not in the span's sessions: rows a join drops)
    and how many rows it holds."""

    sessions: np.ndarray
    lengths: np.ndarray

    def per_row(self) -> np.ndarray:
        return np.repeat(self.sessions, self.lengths)

    def counts(self, size: int) -> np.ndarray:
        """Rows per session."""
        known = self.sessions >= 0
        return np.bincount(self.sessions[known], self.lengths[known], minlength=size)


class IdIndex:
    """Sorted distinct ids, looked up by value: each one's position, -1 for any other id
    (in a table by id when the ids are dense enough, else by binary search)."""

    def __init__(self, ids: np.ndarray) -> None:
        self.ids = ids
        self.table: np.ndarray | None = None
        if len(ids) and fits_table(int(ids[-1] - ids[0]), len(ids), slots=0):
            self.table = np.full(int(ids[-1] - ids[0]) + 2, -1, dtype=np.int64)  # last: other
            self.table[ids - ids[0]] = np.arange(len(ids))

    def positions(self, values: np.ndarray) -> np.ndarray:
        if len(self.ids) == 0:
            return np.full(len(values), -1, dtype=np.int64)
        if self.table is not None:
            inside = values - self.ids[0]
            np.clip(inside, -1, len(self.table) - 1, out=inside)
            return self.table[inside]
        pos = np.searchsorted(self.ids, values).clip(max=len(self.ids) - 1)
        return np.where(self.ids[pos] == values, pos, -1)


def session_runs(ids: np.ndarray | IdIndex, column: pl.Series) -> Runs:
    """The runs of equal values of a session-id column, each looked up in the sorted `ids`."""
    index = ids if isinstance(ids, IdIndex) else IdIndex(ids)
    if len(column) == 0:
        return Runs(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    if not column.null_count():  # polars finds the runs
        runs = column.rle().struct.unnest()
        heads = runs["value"].cast(pl.Int64).to_numpy()
        return Runs(index.positions(heads), runs["len"].cast(pl.Int64).to_numpy())
    # a null is a run of its own, of no session
    values = np.where(column.is_null().to_numpy(), index.ids.min(initial=0) - 1, id_ints(column))
    starts = np.concatenate(([0], np.flatnonzero(values[1:] != values[:-1]) + 1))
    return Runs(index.positions(values[starts]), np.diff(starts, append=len(values)))


def distinct_ids(frame: pl.DataFrame, column: str, table: str) -> tuple[np.ndarray, np.ndarray]:
    """A frame's sorted id column as its distinct ids and each row's index among them. Ids
    may repeat (a session a client logged twice has two rows): a join gives every row of an
    id that id's measures, and so does indexing by the rows."""
    ids = frame[column]
    if ids.null_count():
        raise ValueError(f"{table}: {column} has nulls")
    values = ids.cast(pl.Int64).to_numpy()
    if (np.diff(values) < 0).any():
        raise ValueError(f"{table}: {column} is not sorted")
    distinct = np.concatenate(([True], values[1:] != values[:-1])) if len(values) else values
    return values[distinct], np.cumsum(distinct) - 1


def unique_ids(frame: pl.DataFrame, column: str, table: str) -> np.ndarray:
    """A frame's sorted id column as numpy; ids must be unique: a join would repeat rows."""
    ids, rows = distinct_ids(frame, column, table)
    if len(ids) != len(rows):
        raise ValueError(f"{table}: {column} repeats")
    return ids


def per_row(rows: np.ndarray, size: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Counts (or sums of `weights`, in row order) per target row of rows pointing at one."""
    if rows.min(initial=0) >= 0:  # every row points at one: nothing to drop
        return np.bincount(rows, weights, minlength=size)
    keep = rows >= 0
    return np.bincount(rows[keep], None if weights is None else weights[keep], minlength=size)


FLOAT_BITS = 53  # float64 adds integers below 2**53 exactly


@dataclass(frozen=True)
class Packed:
    """Integer measures packed several to one float64 weight (`pack_counts`), to be summed
    per group by any bincount that adds float64 weights."""

    weights: list[np.ndarray]
    layout: list[list[tuple[str, int, int]]]  # per weight: (measure, shift, bits)

    def sums(self, total: Callable[[np.ndarray], np.ndarray]) -> dict[str, np.ndarray]:
        sums = {}
        for weight, pack in zip(self.weights, self.layout, strict=True):
            summed = total(weight).astype(np.int64)
            for name, shift, bits in pack:
                sums[name] = (summed >> shift) & ((1 << bits) - 1)
        return sums


def pack_counts(measures: dict[str, np.ndarray]) -> Packed:
    """Integer measures packed for summing several at once: each into its own bits of one
    weight, as many bits as its sum over every row needs, so no group's sum (nor any sum
    of a subset of rows) overflows into the next field, and whole weights and sums below
    2**53, where float64 adds integers exactly."""
    packs: list[list[tuple[str, int, int]]] = [[]]  # (measure, shift, bits)
    used = 0
    for name, values in sorted(measures.items(), key=lambda item: int(item[1].sum())):
        bits = int(values.sum()).bit_length()
        if values.min(initial=0) < 0 or bits >= FLOAT_BITS:
            raise ValueError(f"{name}: not a count that packs")
        if used + bits >= FLOAT_BITS:
            packs.append([])
            used = 0
        packs[-1].append((name, used, bits))
        used += bits
    weights = []
    for pack in packs:
        weight = np.zeros(len(next(iter(measures.values()))))
        for name, shift, _ in pack:
            weight += measures[name] * float(2**shift)  # exact: the fields do not overlap
        weights.append(weight)
    return Packed(weights, packs)
