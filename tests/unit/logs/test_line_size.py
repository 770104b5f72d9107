"""Log lines stay small whatever a library attaches to its records."""

from __future__ import annotations

import json
import logging

import kopf

from promptsales.logs import JsonFormatter


def _line(**extra: object) -> str:
    record = logging.LogRecord("kopf.objects", logging.INFO, __file__, 1, "Handler ok.", None, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return JsonFormatter().format(record)


def test_an_object_passed_as_extra_is_left_out_of_the_line() -> None:
    """kopf hands its whole OperatorSettings to every object logger (about 2 KB a line)."""
    ref = {"apiVersion": "v1", "kind": "Secret", "name": "s", "namespace": "promptsales"}
    line = _line(settings=kopf.OperatorSettings(), k8s_ref=ref, k8s_skip=True)
    payload = json.loads(line)
    assert "settings" not in payload
    assert payload["k8s_ref"] == ref  # plain data stays
    assert len(line) < 400


def test_a_long_plain_extra_is_cut() -> None:
    payload = json.loads(_line(detail="x" * 5000))
    assert len(payload["detail"]) <= 512
