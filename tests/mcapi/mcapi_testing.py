"""Helpers for the API tests: Basic credentials, an XML caller, error reading."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET


def basic(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


class XmlApi:
    """Calls the API through Django's test client and parses the XML answer."""

    def __init__(self, client, token):
        self.client = client
        self.token = token

    def raw(self, method: str, endpoint: str, *, auth: str | None = None, **params):
        headers = {"Authorization": auth if auth is not None else f"Bearer {self.token}"}
        call = self.client.get if method == "GET" else self.client.post
        return call(f"/api/{endpoint}", params, headers=headers)

    def __call__(self, method: str, endpoint: str, **params) -> ET.Element:
        response = self.raw(method, endpoint, **params)
        assert response.status_code == 200, response.content
        assert response["Content-Type"].startswith("application/xml")
        return ET.fromstring(response.content)


def error_of(root: ET.Element) -> tuple[str, str]:
    assert root.get("success") == "false", ET.tostring(root)
    error = root.find("error")
    return error.get("id"), error.get("message")
