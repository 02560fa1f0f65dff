from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

urlpatterns = [
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("health", views.health_view, name="health"),
    path("health/live", views.health_live, name="health-live"),
    path("health/detailed", views.health_detailed, name="health-detailed"),
    path("metrics", views.metrics_view, name="metrics"),
]
