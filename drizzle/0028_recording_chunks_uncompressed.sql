-- Recording chunks are stored out of line as they came, not compressed: PostgreSQL's pglz tried
-- each 256 KiB chunk first, and on bytes that do not compress (already compressed or encrypted
-- streams) that cost about 40% of the database's CPU per chunk for nothing.
ALTER TABLE "recording_chunks" ALTER COLUMN "data" SET STORAGE EXTERNAL;
