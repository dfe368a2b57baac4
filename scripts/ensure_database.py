"""Create the PostgreSQL database DATABASE_URL names when it does not exist (make bench's scratch database)."""

import os
import sys
import urllib.parse

import psycopg

url = urllib.parse.urlparse(os.environ["DATABASE_URL"])
name = url.path.lstrip("/")
if not name:
    sys.exit("DATABASE_URL names no database")
admin = url._replace(path="/postgres").geturl()
with psycopg.connect(admin, autocommit=True) as conn:
    if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
        conn.execute(f'CREATE DATABASE "{name}"')
        print(f"created database {name}")
