"""What a controller identity may do through the API: only what a view declares.

A provisioning controller (role `controller`, SPEC §2 and §8) sees every
tenant, so every view that is scoped by tenant would answer it; what keeps it
to reading and reporting is this one permission, a default permission class of
every API view (settings.REST_FRAMEWORK). It refuses a controller with 403
`forbidden` unless the view lists the action in `controller_may`: the
viewset's action name (`list`, `retrieve`, `events`) or, for a plain APIView,
the HTTP method in lower case (`get`, `post`). A view that says nothing is
closed to controllers, so a new route is refused to them until someone decides
otherwise. Everyone else passes through to the view's own rules.

The refusal comes before the view looks anything up, so it is the same 403
for an object of any tenant and for one that does not exist.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission


def allowed_to_controllers(*actions: str) -> frozenset[str]:
    """The value of a view's `controller_may`: action names or lower-case methods."""
    return frozenset(actions)


class ControllerMay(BasePermission):
    message = "A controller may read deployments and resources and report resource status only."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if user is None or not getattr(user, "is_controller", False):
            return True
        allowed = getattr(view, "controller_may", frozenset())
        action = getattr(view, "action", None)
        if action is None:
            method = request.method.lower()
            # HEAD is a GET without the body (Django answers it with the GET handler).
            action = "get" if method == "head" else method
        return action in allowed


class ControllersOnly(BasePermission):
    """For the routes only a controller may use (a status report): everyone
    else gets 403 before the request is parsed or anything is looked up, so
    the answer is the same for any id. (The service refuses them too.)"""

    def has_permission(self, request, view) -> bool:
        return request.user is not None and getattr(request.user, "is_controller", False)
