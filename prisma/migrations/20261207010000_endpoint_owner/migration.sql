-- The proxy instance (`<service>/<instance>`) that registered an endpoint over its stream; NULL for endpoints
-- registered through the API, by DNS discovery or statically. Another proxy cannot take over an address whose owner
-- is still alive.
ALTER TABLE "Endpoint" ADD COLUMN "owner" TEXT;
