"""A stand-in for MongoDB Search (``mongot``) in front of a real collection on SecantusDB.

No MongoDB Search runs here, and SecantusDB refuses the search stages. This stand-in
wraps the real pymongo collection: every ordinary operation goes to SecantusDB unchanged,
and the search operations (``$listSearchIndexes``, ``createSearchIndexes``, a pipeline
starting with ``$vectorSearch``) are checked against MongoDB's documented shapes and then
evaluated honestly over the stored documents: the pre-filter is evaluated with MQL's
semantics (an array field matches ``$eq`` when an element does), cosine is computed over
the stored float32 vectors, the score is MongoDB's ``(1 + cosine) / 2``, and the top
``limit`` are returned best first. Anything outside the documented shapes raises
:class:`SearchShapeError`, so a pipeline the real server would refuse fails here too.

Documented shapes (MongoDB Vector Search docs, "How to Index Fields for Vector Search"
and "$vectorSearch"): the index has ``fields`` of ``type`` ``vector`` (``path``,
``numDimensions``, ``similarity`` one of euclidean|cosine|dotProduct) or ``filter``
(``path``); the stage has ``index``, ``path``, ``queryVector``, ``limit`` and optional
``exact``, ``numCandidates`` (required unless ``exact`` is true, at most 10000, not
below ``limit``) and ``filter``, whose paths must be indexed as ``filter`` and whose
operators are $eq, $ne, $gt, $gte, $lt, $lte, $in, $nin, $not, $nor, $and, $or, $exists;
the stage must come first in its pipeline.
"""

from __future__ import annotations

import operator as operator_module
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
from bson.binary import Binary
from pymongo.collection import Collection
from pymongo.operations import SearchIndexModel

STAGE_FIELDS = {"index", "path", "queryVector", "numCandidates", "limit", "filter", "exact"}
REQUIRED_STAGE_FIELDS = {"index", "path", "queryVector", "limit"}
FILTER_OPERATORS = {
    "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$not", "$nor", "$and", "$or",
    "$exists",
}  # fmt: skip
SIMILARITIES = {"euclidean", "cosine", "dotProduct"}
MAX_CANDIDATES = 10_000


class SearchShapeError(ValueError):
    """What the real server would refuse: a shape outside the documented one."""


def check_index_definition(definition: Mapping[str, Any]) -> None:
    fields = definition.get("fields")
    if set(definition) != {"fields"} or not isinstance(fields, list) or not fields:
        raise SearchShapeError("a vectorSearch definition is {fields: [...]}")
    vectors = 0
    for field in fields:
        kind = field.get("type")
        if kind == "vector":
            vectors += 1
            if set(field) != {"type", "path", "numDimensions", "similarity"}:
                raise SearchShapeError(f"vector field keys {sorted(field)}")
            dims = field["numDimensions"]
            if not isinstance(dims, int) or isinstance(dims, bool) or not 1 <= dims <= 8192:
                raise SearchShapeError("numDimensions must be an int in 1..8192")
            if field["similarity"] not in SIMILARITIES:
                raise SearchShapeError(f"similarity {field['similarity']!r}")
        elif kind == "filter":
            if set(field) != {"type", "path"}:
                raise SearchShapeError(f"filter field keys {sorted(field)}")
        else:
            raise SearchShapeError(f"field type {kind!r}")
        if not isinstance(field["path"], str) or not field["path"]:
            raise SearchShapeError("path must be a field name")
    if vectors == 0:
        raise SearchShapeError("a vectorSearch index needs a vector field")


def _filter_paths(expression: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(path, condition) of every field condition, checking the operators on the way."""
    for key, value in expression.items():
        if key in {"$and", "$or", "$nor"}:
            if not isinstance(value, list) or not value:
                raise SearchShapeError(f"{key} takes a non-empty list")
            for part in value:
                yield from _filter_paths(part)
        elif key.startswith("$"):
            raise SearchShapeError(f"operator {key} is not allowed at the top of a filter")
        else:
            conditions = value if isinstance(value, dict) else {"$eq": value}
            for operator in conditions:
                if operator not in FILTER_OPERATORS:
                    raise SearchShapeError(f"operator {operator} is not allowed in a filter")
            yield key, conditions


def _values(document: Mapping[str, Any], path: str) -> list[Any]:
    value = document.get(path)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _condition(values: list[Any], operator: str, operand: Any) -> bool:
    if operator == "$eq":
        return operand in values
    if operator == "$ne":
        return operand not in values
    if operator == "$in":
        return any(v in values for v in operand)
    if operator == "$nin":
        return not any(v in values for v in operand)
    if operator == "$exists":
        return bool(values) == bool(operand)
    if operator == "$not":
        return not all(_condition(values, op, arg) for op, arg in operand.items())
    compare: Callable[[Any, Any], bool] = {
        "$gt": operator_module.gt,
        "$gte": operator_module.ge,
        "$lt": operator_module.lt,
        "$lte": operator_module.le,
    }[operator]
    return any(compare(v, operand) for v in values)


def matches(document: Mapping[str, Any], expression: Mapping[str, Any]) -> bool:
    for key, value in expression.items():
        if key == "$and":
            ok = all(matches(document, part) for part in value)
        elif key == "$or":
            ok = any(matches(document, part) for part in value)
        elif key == "$nor":
            ok = not any(matches(document, part) for part in value)
        else:
            conditions = value if isinstance(value, dict) else {"$eq": value}
            values = _values(document, key)
            ok = all(_condition(values, op, arg) for op, arg in conditions.items())
        if not ok:
            return False
    return True


def _vector(value: Any) -> np.ndarray[Any, np.dtype[np.float64]] | None:
    if isinstance(value, Binary) and value.subtype == 9:
        return np.asarray(value.as_vector().data, dtype=np.float64)
    if isinstance(value, list):
        return np.asarray(value, dtype=np.float64)
    return None


class VectorSearchStandIn:
    """The collection as seen through MongoDB Search (a stand-in; see the module)."""

    def __init__(self, collection: Collection[dict[str, Any]]) -> None:
        self.collection = collection
        self.indexes: dict[str, dict[str, Any]] = {}
        self.pipelines: list[list[dict[str, Any]]] = []  # as received, for the tests

    def __getattr__(self, name: str) -> Any:
        return getattr(self.collection, name)

    # --- search index management ---------------------------------------------------------

    def create_search_index(self, model: SearchIndexModel) -> str:
        document = model.document
        if document.get("type") != "vectorSearch":
            raise SearchShapeError("only vectorSearch indexes are stood in for")
        check_index_definition(document["definition"])
        self.indexes[document["name"]] = dict(document)
        return str(document["name"])

    def list_search_indexes(self, name: str | None = None) -> list[dict[str, Any]]:
        return [
            {
                "name": index_name,
                "type": index["type"],
                "status": "READY",
                "queryable": True,
                "latestDefinition": index["definition"],
            }
            for index_name, index in self.indexes.items()
            if name is None or name == index_name
        ]

    # --- queries ---------------------------------------------------------------------------

    def aggregate(self, pipeline: list[dict[str, Any]], **kwargs: Any) -> Any:
        if not any("$vectorSearch" in stage for stage in pipeline):
            return self.collection.aggregate(pipeline, **kwargs)
        self.pipelines.append(pipeline)
        if "$vectorSearch" not in pipeline[0] or len(pipeline[0]) != 1:
            raise SearchShapeError("$vectorSearch must be the first stage of its pipeline")
        documents = self._vector_search(pipeline[0]["$vectorSearch"])
        for stage in pipeline[1:]:
            documents = self._later_stage(stage, documents)
        return iter(documents)

    def _vector_search(self, stage: Mapping[str, Any]) -> list[dict[str, Any]]:
        unknown = set(stage) - STAGE_FIELDS
        missing = REQUIRED_STAGE_FIELDS - set(stage)
        if unknown or missing:
            raise SearchShapeError(f"unknown fields {unknown or ''} missing {missing or ''}")
        limit, exact = stage["limit"], stage.get("exact", False)
        if not isinstance(limit, int) or limit < 1:
            raise SearchShapeError("limit must be a positive int")
        if not isinstance(exact, bool):
            raise SearchShapeError("exact must be a boolean")
        if "numCandidates" in stage:
            candidates = stage["numCandidates"]
            if not isinstance(candidates, int) or not limit <= candidates <= MAX_CANDIDATES:
                raise SearchShapeError("numCandidates must be an int in limit..10000")
        elif not exact:
            raise SearchShapeError("numCandidates is required unless exact is true")
        index = self.indexes.get(stage["index"])
        if index is None:
            return []  # as the server does: an unknown index finds nothing
        fields = index["definition"]["fields"]
        vector_fields = {f["path"]: f for f in fields if f["type"] == "vector"}
        filter_paths = {f["path"] for f in fields if f["type"] == "filter"}
        if stage["path"] not in vector_fields:
            raise SearchShapeError(f"path {stage['path']} is not a vector field of the index")
        field = vector_fields[stage["path"]]
        query = np.asarray(stage["queryVector"], dtype=np.float64)
        if query.shape != (field["numDimensions"],):
            raise SearchShapeError("queryVector length differs from numDimensions")
        expression = stage.get("filter", {})
        for path, _ in _filter_paths(expression):
            if path not in filter_paths:
                raise SearchShapeError(f"{path} is not indexed as a filter field")
        scored: list[tuple[float, dict[str, Any]]] = []
        for document in self.collection.find({}):
            vector = _vector(document.get(stage["path"]))
            if vector is None or vector.shape != query.shape or not matches(document, expression):
                continue
            scored.append((self._score(field["similarity"], query, vector), document))
        scored.sort(key=lambda pair: -pair[0])
        return [{**doc, "__score": score} for score, doc in scored[:limit]]

    @staticmethod
    def _score(similarity: str, query: np.ndarray[Any, Any], vector: np.ndarray[Any, Any]) -> float:
        if similarity == "euclidean":
            return 1.0 / (1.0 + float(np.sum((query - vector) ** 2)))
        if similarity == "cosine":
            norms = float(np.linalg.norm(query)) * float(np.linalg.norm(vector))
            cosine = float(query @ vector) / norms
            return (1.0 + cosine) / 2.0
        return (1.0 + float(query @ vector)) / 2.0

    @staticmethod
    def _later_stage(
        stage: Mapping[str, Any], documents: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        (name, spec), *rest = stage.items()
        if rest:
            raise SearchShapeError("one operator per stage")
        result = []
        for document in documents:
            doc = dict(document)
            if name == "$addFields":
                for key, value in spec.items():
                    if value != {"$meta": "vectorSearchScore"}:
                        raise SearchShapeError("the stand-in adds only vectorSearchScore")
                    doc[key] = doc["__score"]
            elif name == "$project":
                if any(v not in (0, False) for v in spec.values()):
                    raise SearchShapeError("the stand-in projects by exclusion only")
                for key in spec:
                    doc.pop(key, None)
            else:
                raise SearchShapeError(f"the stand-in does not evaluate {name}")
            result.append(doc)
        return [{k: v for k, v in d.items() if k != "__score"} for d in result]
