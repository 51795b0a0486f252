require ["copy", "fileinto"];
fileinto :copy "incoming";
