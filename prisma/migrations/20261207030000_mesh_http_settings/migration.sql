-- Mesh setting http.mergeSlashes (Envoy's merge_slashes): runs of "/" in request paths read as one. Off, as in
-- Envoy and as every proxy had it before the mesh set it.
ALTER TABLE "MeshState" ADD COLUMN "httpMergeSlashes" BOOLEAN NOT NULL DEFAULT false;
