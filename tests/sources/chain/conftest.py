"""Fixtures for the chain watcher tests: one Anvil node per module, with labelled accounts and a token."""

from __future__ import annotations

import pytest

from .anvil_node import anvil_node, make_world


@pytest.fixture(scope="module")
def anvil():
    with anvil_node() as node:
        yield node


@pytest.fixture(scope="module")
def world(anvil, tmp_path_factory):
    url, w3 = anvil
    return make_world(url, w3, tmp_path_factory.mktemp("labels"))
