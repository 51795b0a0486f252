"""Qt item models: they adapt core data (snapshot + events) and own nothing."""

from app.models.log_model import LogFilterProxy, LogModel
from app.models.modules_model import ModulesModel
from app.models.users_model import UsersModel

__all__ = ["LogFilterProxy", "LogModel", "ModulesModel", "UsersModel"]
