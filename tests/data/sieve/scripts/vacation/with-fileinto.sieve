require ["vacation", "fileinto"];
vacation "away";
fileinto "Archive";
