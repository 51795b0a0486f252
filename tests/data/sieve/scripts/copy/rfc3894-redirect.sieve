require ["copy"];
redirect :copy "sysadmin@example.com";
