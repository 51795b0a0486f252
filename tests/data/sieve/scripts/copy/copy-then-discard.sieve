require ["copy", "fileinto"];
fileinto :copy "archive";
redirect :copy "backup@example.com";
if exists "x-spam-flag" { discard; }
