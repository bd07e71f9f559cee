"""Who gets in and how much: sign-in and sessions, identity cookies, Host and Origin checks, roles, rate and socket limits."""
