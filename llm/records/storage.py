"""Where interaction files live: the one place their storages are built.

``interaction_storage()`` is where new files are written (``STORAGES["llm_logs"]``: local disk or
S3 by ``STORAGE_BACKEND``). ``s3_storage(bucket)`` is an S3 bucket that holds files moved off local
disk: ``interactions.read`` opens ``s3://bucket/key`` paths with it and segmentation's
migration command (segmentation/s3.py) uploads to it, so the reader and the writer of a moved
file are always configured the same way.
"""

import os

from django.core.files.storage import storages


def interaction_storage():
    return storages["llm_logs"]


def _shared(name: str, default: str | None = None) -> str | None:
    from django.conf import settings

    return getattr(settings, name, None) or os.environ.get(name) or default


def s3_storage(bucket: str, *, endpoint_url: str | None = None, region_name: str | None = None,
               access_key: str | None = None, secret_key: str | None = None):
    """An S3 storage (django-storages) for interaction files in ``bucket``, keys as the local paths.

    Options not given come from the shared S3 settings (S3_ENDPOINT_URL, S3_REGION,
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY). Files are overwritten in place (a re-upload after
    a failed verify) and get the bucket's own ACL."""
    from storages.backends.s3 import S3Storage

    if not bucket:
        raise ValueError("An S3 storage for interaction files needs a bucket name.")
    return S3Storage(
        bucket_name=bucket,
        endpoint_url=endpoint_url or _shared("S3_ENDPOINT_URL"),
        region_name=region_name or _shared("S3_REGION", "us-east-1"),
        access_key=access_key or _shared("AWS_ACCESS_KEY_ID"),
        secret_key=secret_key or _shared("AWS_SECRET_ACCESS_KEY"),
        file_overwrite=True,
        default_acl=None,
        location="",
    )
