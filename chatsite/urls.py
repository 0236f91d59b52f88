from django.contrib import admin
from django.urls import include, path

from rooms import views

urlpatterns = [
    path("", views.lobby, name="lobby"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("rooms/", include("rooms.urls")),
]
