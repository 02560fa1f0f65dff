from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="pools-index"),
    path("<int:pk>/", views.detail, name="pools-detail"),
    path("<int:pk>/weight", views.weight, name="pools-weight"),
]
