"""Prefect's standard block checks, with the logo check made to run offline."""

from __future__ import annotations

import httpx
from prefect.blocks.core import Block
from prefect.testing.standard_test_suites import BlockStandardTestSuite


class BlockStandards(BlockStandardTestSuite):
    """Description, documentation URL, field descriptions, code example: Prefect's own checks.

    Prefect's logo check downloads the image and measures it with Pillow (Prefect 3.4.0-3.4.12
    import Pillow with the suite, hence the dev dependency). Tests have no internet, so this
    one checks what the UI needs to fetch the logo instead.
    """

    def test_has_a_valid_image(self, block: type[Block]) -> None:
        assert block._logo_url is not None, f"{block.__name__} has no _logo_url"
        url = httpx.URL(str(block._logo_url))
        assert url.scheme == "https" and url.host, f"{block.__name__}'s logo is not an https URL"
