"""What the fake Discord knows of message components: the components V2 types, a walk over
a message's components, the refusals Discord answers a bad body with (400 50035), and the
media URLs Discord answers ``attachment://`` names with."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

__all__ = [
    "ACTION_ROW",
    "BUTTON",
    "COMPONENTS_V2",
    "CONTAINER",
    "FILE",
    "MEDIA_GALLERY",
    "SECTION",
    "SEPARATOR",
    "STRING_SELECT",
    "TEXT_DISPLAY",
    "THUMBNAIL",
    "attached_media",
    "components_refusal",
    "walk_components",
]

COMPONENTS_V2 = 1 << 15  # message flag: the components are the whole message
ACTION_ROW, BUTTON, STRING_SELECT, SECTION, TEXT_DISPLAY, THUMBNAIL = 1, 2, 3, 9, 10, 11
MEDIA_GALLERY, FILE, SEPARATOR, CONTAINER = 12, 13, 14, 17
_SELECTS = {STRING_SELECT, 5, 6, 7, 8}
_V2_TOP_LEVEL = {ACTION_ROW, SECTION, TEXT_DISPLAY, MEDIA_GALLERY, FILE, SEPARATOR, CONTAINER}
_IN_CONTAINER = {ACTION_ROW, SECTION, TEXT_DISPLAY, MEDIA_GALLERY, FILE, SEPARATOR}


def walk_components(components: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every component of a message's list (the dicts themselves), each followed by its
    children and its accessory."""
    for component in components:
        yield component
        yield from walk_components(component.get("components") or [])
        if isinstance(component.get("accessory"), dict):
            yield from walk_components([component["accessory"]])


def components_refusal(
    body: Mapping[str, Any], *, attachments: Sequence[str], was_v2: bool = False
) -> str | None:
    """Why Discord refuses a message body (400 50035 Invalid Form Body), or None: a components
    V2 message (flag 1 << 15, kept by every edit once set) has no content or embeds, and its
    components have the shape, sizes and counts Discord checks. ``attachments``: the filenames
    the message has once sent or edited (what ``attachment://`` may name)."""
    flags = int(body.get("flags") or 0)
    if was_v2 and "flags" in body and not flags & COMPONENTS_V2:
        return "flags: the components V2 flag cannot be removed from a message"
    v2 = was_v2 or bool(flags & COMPONENTS_V2)
    if v2 and (body.get("content") or body.get("embeds")):
        return "content, embeds: not allowed with the components V2 flag"
    components = body.get("components")
    if components is None:
        return None
    if not isinstance(components, list):
        return "components: must be a list"
    allowed = _V2_TOP_LEVEL if v2 else {ACTION_ROW}
    if any(c.get("type") not in allowed for c in components):
        return "components: not a top-level component" + ("" if v2 else " without the V2 flag")
    if not v2 and len(components) > 5:
        return "components: at most 5 action rows"
    every = list(walk_components(components))
    if len(every) > 40:
        return f"components: {len(every)} components, at most 40"
    text = sum(len(c.get("content") or "") for c in every if c.get("type") == TEXT_DISPLAY)
    if text > 4000:
        return f"components: {text} characters of text, at most 4000"
    for component in every:
        problem = _component_refusal(component, set(attachments))
        if problem is not None:
            return f"components[type {component.get('type')}]: {problem}"
    return None


def _component_refusal(c: Mapping[str, Any], attachments: set[str]) -> str | None:
    kind, children = c.get("type"), c.get("components") or []
    if kind == ACTION_ROW:
        kinds = [child.get("type") for child in children]
        if not 1 <= len(kinds) <= 5 or not set(kinds) <= {BUTTON} | _SELECTS:
            return "an action row holds 1 to 5 buttons or one select"
        if any(k in _SELECTS for k in kinds) and len(kinds) != 1:
            return "a select fills its action row alone"
    elif kind == BUTTON:
        if len(c.get("label") or "") > 80 or len(c.get("custom_id") or "") > 100:
            return "label at most 80, custom_id at most 100 characters"
        if c.get("style") != 5 and not c.get("custom_id"):
            return "a button needs a custom_id"
    elif kind in _SELECTS:
        options = c.get("options") or []
        if kind == STRING_SELECT and not 1 <= len(options) <= 25:
            return "1 to 25 options"
        texts = [o.get(k) or "" for o in options for k in ("label", "value", "description")]
        if any(len(text) > 100 for text in texts):
            return "option label, value and description at most 100 characters"
        if len(c.get("placeholder") or "") > 150 or not c.get("custom_id"):
            return "a custom_id, and a placeholder at most 150 characters"
        if kind == STRING_SELECT and int(c.get("max_values") or 1) > len(options):
            return "max_values above the number of options"
    elif kind == SECTION:
        if not 1 <= len(children) <= 3 or any(x.get("type") != TEXT_DISPLAY for x in children):
            return "a section holds 1 to 3 text displays"
        accessory = c.get("accessory")
        if not isinstance(accessory, Mapping) or accessory.get("type") not in (BUTTON, THUMBNAIL):
            return "a section needs a button or thumbnail accessory"
    elif kind == TEXT_DISPLAY:
        if not isinstance(c.get("content"), str) or not c["content"]:
            return "a text display needs content"
    elif kind in (THUMBNAIL, MEDIA_GALLERY):
        media = [c] if kind == THUMBNAIL else list(c.get("items") or [])
        if not 1 <= len(media) <= 10:
            return "a media gallery holds 1 to 10 items"
        for item in media:
            if len(item.get("description") or "") > 1024:
                return "description at most 1024 characters"
            url = str((item.get("media") or {}).get("url") or "")
            if not url:
                return "media needs a url"
            if url.startswith("attachment://") and url.removeprefix("attachment://") not in (
                attachments
            ):
                return f"{url} names no attachment of the message"
    elif kind == SEPARATOR:
        if c.get("spacing", 1) not in (1, 2):
            return "spacing is 1 or 2"
    elif kind == CONTAINER:
        if not children or any(x.get("type") not in _IN_CONTAINER for x in children):
            return "a container holds action rows, sections, texts, galleries and separators"
        colour = c.get("accent_color")
        if colour is not None and not 0 <= int(colour) <= 0xFFFFFF:
            return "accent_color is an RGB number"
    elif kind != FILE:
        return "unknown component type"
    return None


def attached_media(components: Any, attachments: Sequence[Mapping[str, Any]]) -> Any:
    """A copy of ``components`` whose attachment:// media point at the message's attachments,
    as Discord answers them."""
    by_name = {a["filename"]: a for a in attachments}
    copied = json.loads(json.dumps(components))
    for component in walk_components(copied or []):
        kind = component.get("type")
        items = [component] if kind == THUMBNAIL else component.get("items") or []
        for item in items if kind in (THUMBNAIL, MEDIA_GALLERY) else []:
            media = item.get("media") or {}
            url = str(media.get("url") or "")
            found = by_name.get(url.removeprefix("attachment://"))
            if url.startswith("attachment://") and found is not None:
                media.update(
                    url=found["url"],
                    proxy_url=found["proxy_url"],
                    content_type=found.get("content_type"),
                    attachment_id=found["id"],
                )
                if "width" in found:
                    media.update(width=found["width"], height=found["height"])
    return copied
