#!/bin/sh
# Stand-in for Prisma's native schema engine, which cannot be downloaded offline; generate and studio do not need it.
echo "schema engine unavailable: use npm run migrate" >&2
exit 1
