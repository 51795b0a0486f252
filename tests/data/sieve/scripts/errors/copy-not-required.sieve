redirect :copy "a@example.com";
