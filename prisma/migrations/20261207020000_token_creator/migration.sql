-- The API token that made a token, when one did: a token's role never exceeds its creator's current one, and the
-- name in "createdBy" does not say which token it was (names are not unique). Tokens a token made before this are
-- linked where the name leaves no doubt; the others have no creator that can be found, and are refused.
ALTER TABLE "ApiToken" ADD COLUMN "creatorTokenId" UUID;

UPDATE "ApiToken" AS made
SET "creatorTokenId" = maker."id"
FROM "ApiToken" AS maker
WHERE made."createdBy" = 'token:' || maker."name"
  AND maker."name" <> 'TRELLIS_ADMIN_TOKEN'
  AND (SELECT count(*) FROM "ApiToken" AS same WHERE same."name" = maker."name") = 1;
