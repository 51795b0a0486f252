require ["copy", "fileinto"];
fileinto :copy "Same";
fileinto "Same";
