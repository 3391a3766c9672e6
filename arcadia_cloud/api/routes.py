"""URL pieces every app's routes share."""

#: A UUID in a path, with or without dashes: anything else never reaches a view
#: (the JSON 404 of the URL resolver), so a malformed id is never a query.
UUID_RE = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"

#: The prefix of every route under one deployment.
DEPLOYMENT_PREFIX = rf"^deployments/(?P<pk>{UUID_RE})/"
