"""Small readers for raw simulator responses."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx

NS = "{http://convio.com/crm/v1.0}"


def body(response: httpx.Response, root: str) -> dict:
    payload = response.json()
    assert list(payload) == [root], payload
    return payload[root]


def error_code(response: httpx.Response) -> str:
    return body(response, "errorResponse")["code"]


def xml_root(response: httpx.Response) -> ET.Element:
    return ET.fromstring(response.content)
