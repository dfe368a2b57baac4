"""The zip download, built in memory from the stored files (never from disk, so no zip slip)."""

import io
import re
import zipfile

from .models import CodegenRun
from .paths import UnsafePath, check_path

_FIXED_TIME = (2020, 1, 1, 0, 0, 0)


def folder_name(run: CodegenRun) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", run.name).strip("-")[:60]
    return slug or "project"


def build_zip(run: CodegenRun) -> bytes:
    root = folder_name(run)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in run.files.order_by("path"):
            try:
                path = check_path(f.path)  # checked when stored; checked again: this is what leaves the house
            except UnsafePath:
                continue
            info = zipfile.ZipInfo(f"{root}/{path}", date_time=_FIXED_TIME)
            info.external_attr = (0o100644 & 0xFFFF) << 16  # a regular file, rw-r--r--: never a symlink
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, f.content.encode("utf-8"))
    return buffer.getvalue()
